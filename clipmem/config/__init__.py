"""The config layer: Hydra schemas and resolvers, checked instantiation, fingerprints, and the validated
settings every run starts from (``clipmem.config.settings.load_settings``)."""

from clipmem.config.fingerprint import config_fingerprint, plain, training_config
from clipmem.config.instantiate import instantiate_checked, instantiate_entries
from clipmem.config.resolvers import register_resolvers, run_dir_override
from clipmem.config.schema import register_schemas


def register() -> None:
    """The OmegaConf resolvers and Hydra schemas the configs need, before Hydra composes one (the entry points, the
    tests and the benchmarks call it; sweep jobs unpickled in another process do so by importing train.py)."""
    register_resolvers()
    register_schemas()


__all__ = ["config_fingerprint", "instantiate_checked", "instantiate_entries", "plain", "register",
           "register_resolvers", "register_schemas", "run_dir_override", "training_config"]
