"""clipmem: measure and mitigate memorization in CLIP models (CLIPMem, ICLR 2025).

Importing clipmem first makes torchvision importable on CPU-only torch builds (see
``clipmem._torchvision_compat``), so import it before lightning, torchmetrics or open_clip.
"""

from clipmem._quiet import silence_known_noise
from clipmem._torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()
silence_known_noise()

__version__ = "0.1.0"
