"""Lightning callbacks that follow utility (zero-shot, linear probe, retrieval) and memorization (CLIPMem)
during training; ``conf/callbacks/*.yaml`` selects them by ``_target_``."""

from clipmem.callbacks.clipmem import CLIPMemCallback
from clipmem.callbacks.utility import UtilityCallback

__all__ = ["CLIPMemCallback", "UtilityCallback"]
