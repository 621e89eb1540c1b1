"""Zero-shot and probe sets measured beside the scores: Animal-MNIST, an image folder, held-out pairs."""
