"""What a plan is made of: model specs (which ids, which seed) and the pairs scored."""

from __future__ import annotations

from dataclasses import dataclass

import torch

CONTRAST_REFERENCES = ("held_out", "out_of_fold")

@dataclass(frozen=True)
class ModelSpec:
    """One model of a plan.

    name: its folder under ``models/`` (``f``, ``g``, ``m00``, ...).
    train_ids: the sample ids it trains on, in manifest order (the data order is drawn from them).
    seed: its training seed: initialisation, data order, caption/view draws and crops.
    family: the model family (``clip``).
    reference: the model whose saved statistics its in-training CLIPMem curve compares against, or None.
    """

    name: str
    train_ids: tuple[int, ...]
    seed: int
    family: str = "clip"
    reference: str | None = None


@dataclass(frozen=True)
class Plan:
    """The models to train, in order, and the samples every model's statistics are computed on.

    specs: the models, in training order.
    scored_ids: the scored sample ids; ``sets``: the split each comes from (``candidate``, ``independent``).
    groups: per spec, its resampling unit (a complementary pair): the estimators' intervals and split-half
        reliability resample units, never single models.
    seed: the experiment seed (bootstrap draws).
    contrast_reference: what each model's contrast term compares a pair with: ``held_out`` (S_E, the paper's)
        or ``out_of_fold`` (the scored pairs that model did not train on: ``design=crossfit``, which scores
        every pair and holds none out).
    """

    specs: tuple[ModelSpec, ...]
    scored_ids: tuple[int, ...]
    sets: tuple[str, ...] = ()
    groups: tuple[int, ...] = ()
    seed: int = 0
    contrast_reference: str = "held_out"

    def __post_init__(self) -> None:
        if self.sets and len(self.sets) != len(self.scored_ids):
            raise ValueError(f"plan: {len(self.sets)} set names for {len(self.scored_ids)} scored ids")
        if self.groups and len(self.groups) != len(self.specs):
            raise ValueError(f"plan: {len(self.groups)} groups for {len(self.specs)} models")
        if self.contrast_reference not in CONTRAST_REFERENCES:
            raise ValueError(f"plan: contrast_reference must be one of {CONTRAST_REFERENCES}, "
                             f"got {self.contrast_reference!r}")

    def spec(self, name: str) -> ModelSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise KeyError(f"no model {name!r} in the plan (models: {[s.name for s in self.specs]})")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.specs)

    def outside(self, name: str) -> torch.Tensor | None:
        """(N,) bool: the scored samples model ``name`` did not train on, where its contrast term uses them as
        its reference (``contrast_reference == "out_of_fold"``); None where it uses S_E."""
        if self.contrast_reference != "out_of_fold":
            return None
        ids = torch.tensor(self.scored_ids, dtype=torch.int64)
        return ~torch.isin(ids, torch.tensor(self.spec(name).train_ids, dtype=torch.int64))

    def membership(self) -> torch.Tensor:
        """(M, N) bool: model m trained on scored sample n (models and samples in plan order)."""
        ids = torch.tensor(self.scored_ids, dtype=torch.int64)
        return torch.stack([torch.isin(ids, torch.tensor(s.train_ids, dtype=torch.int64)) for s in self.specs])
