"""Plugins defined outside the package (docs/extending.md): a model family, a design, a data source and a
mitigation, each run end to end through train.py by ``_target_`` with no edit under clipmem/."""
