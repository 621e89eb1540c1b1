"""The config layer: Hydra schemas and resolvers, checked instantiation, fingerprints, and the validated
settings every run starts from (``clipmem.config.settings.load_settings``)."""

from clipmem.config.fingerprint import config_fingerprint, plain, training_config
from clipmem.config.instantiate import instantiate_checked, instantiate_entries
from clipmem.config.resolvers import register_resolvers, run_dir_override
from clipmem.config.schema import register_schemas

register_resolvers()  # on import: sweep jobs unpickled in other processes (joblib, submitit) resolve them too
register_schemas()

__all__ = ["config_fingerprint", "instantiate_checked", "instantiate_entries", "plain", "register_resolvers",
           "register_schemas", "run_dir_override", "training_config"]
