"""Lightning callbacks that follow utility (zero-shot, retrieval) and memorization (CLIPMem) during training."""

from clipmem.callbacks.clipmem import CLIPMemCallback
from clipmem.callbacks.linear_probe import LinearProbeCallback
from clipmem.callbacks.retrieval import RetrievalCallback
from clipmem.callbacks.zeroshot import ZeroShotCallback

__all__ = ["CLIPMemCallback", "LinearProbeCallback", "RetrievalCallback", "ZeroShotCallback"]
