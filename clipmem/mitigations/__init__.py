"""Training-time mitigations of memorization (``conf/mitigation/*.yaml``), applied to f and g alike.

One module per concept: ``noise`` (embedding noise in the loss), ``text_augment`` (offline caption
augmentation), ``remove_topk`` (retraining without the most memorized pairs); ``apply`` maps a
mitigation config to the keyword arguments of the model and the data module.
"""

from clipmem.mitigations.apply import MITIGATIONS, data_config, module_kwargs, validate

__all__ = ["MITIGATIONS", "data_config", "module_kwargs", "validate"]
