"""clipmem: measure and mitigate memorization in CLIP models (CLIPMem, ICLR 2025).

Importing clipmem makes torchvision importable on CPU-only torch builds (``clipmem._torchvision_compat``): the
fix runs when torchvision is first imported, so import clipmem before lightning, torchmetrics or open_clip.
Importing clipmem itself loads neither torch nor those libraries.
"""

from clipmem._quiet import silence_known_noise
from clipmem._torchvision_compat import install_import_hook

install_import_hook()
silence_known_noise()

__version__ = "0.1.0"
