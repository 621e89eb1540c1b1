"""Image↔text retrieval recall@1/@5 on the held-out pairs S_E."""

from __future__ import annotations

import lightning as L

from clipmem.callbacks.base import EpochEvaluation
from clipmem.evaluation.encode import encode_images, encode_texts, eval_mode
from clipmem.evaluation.retrieval import retrieval_recall


def extra_retrieval(model, datamodule, device) -> dict[str, float]:
    """Recall@k of ``model`` on S_E (unaugmented images, primary captions)."""
    pairs = datamodule.split_pairs("extra")
    with eval_mode(model):
        image = encode_images(model, pairs["images"], datamodule.eval_transform, datamodule.eval_batch_size, device)
        text = encode_texts(model, pairs["tokens"][:, 0], datamodule.eval_batch_size, device)
    return retrieval_recall(image, text)


class RetrievalCallback(EpochEvaluation):
    """Logs ``<prefix>retrieval/{i2t,t2i}_r{1,5}`` on S_E."""

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for key, value in extra_retrieval(pl_module.clip, trainer.datamodule, pl_module.device).items():
            pl_module.log(f"{pl_module.log_prefix}retrieval/{key}", value)
