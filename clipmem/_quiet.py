"""Known harmless messages, silenced where they come from (each by its own text; nothing else is filtered).

* torch 2.13 deprecates ``torch.utils._pytree.LeafSpec``, which Lightning 2.6 still instantiates: a
  FutureWarning per run that no user can act on.
* Lightning's "💡 Tip" lines that advertise its cloud products (litlogger, litmodels) on every Trainer.
* W&B's "anonymous setting has no effect" warning is avoided at its cause instead: ``reporting.tracking``
  no longer passes Lightning's ``anonymous`` argument to ``wandb.init``.
"""

from __future__ import annotations

import logging
import warnings

LIGHTNING_TIP = "💡 Tip: For seamless cloud"
RANK_ZERO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class _DropLightningTips(logging.Filter):
    """Drops Lightning's advertising tips; every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(LIGHTNING_TIP)


def silence_known_noise() -> None:
    """Install the filters (idempotent)."""
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                            category=FutureWarning)
    for name in RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropLightningTips) for f in logger.filters):
            logger.addFilter(_DropLightningTips())
