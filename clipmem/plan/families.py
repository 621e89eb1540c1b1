"""Plans over several families: the design's plan once per family, its models named ``<family>_<name>``.

A plan of the CLIP family alone keeps the design's names (``f``, ``g``, ``m00`` ...), so it is exactly the
plan it was before families existed. With other families every model is named ``<family>_<name>``
(``models/ssl_f/``) and its spec carries the family; ``family_subplan`` gives one family's models back under
the design's own names, which is what the design's estimator reads.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from clipmem.plan.spec import ModelSpec, Plan

DEFAULT_FAMILIES = ("clip",)


def is_default(families: tuple[str, ...] | list[str]) -> bool:
    """True for the CLIP family alone (the design's plan and names unchanged)."""
    return tuple(families) == DEFAULT_FAMILIES


def _named(spec: ModelSpec, family: str) -> ModelSpec:
    reference = f"{family}_{spec.reference}" if spec.reference else None
    return dataclasses.replace(spec, name=f"{family}_{spec.name}", family=family, reference=reference)


def family_plan(base: Plan, families: tuple[str, ...] | list[str]) -> Plan:
    """``base`` (the design's plan) for every family in turn, or ``base`` itself for the CLIP family alone.
    Every family's models keep their seeds and training ids; resampling groups stay apart per family."""
    if is_default(families):
        return base
    groups = base.groups or tuple(range(len(base.specs)))
    width = max(groups, default=0) + 1
    specs = tuple(_named(spec, family) for family in families for spec in base.specs)
    return dataclasses.replace(base, specs=specs,
                               groups=tuple(g + k * width for k in range(len(families)) for g in groups))


def family_subplan(plan: Plan, family: str, families: tuple[str, ...] | list[str]) -> tuple[Plan, dict[str, str]]:
    """One family's models as the design planned them: (sub-plan under the design's names, design name -> model
    name in ``plan``). For the CLIP family alone: the plan itself, names unchanged."""
    if is_default(families):
        return plan, {spec.name: spec.name for spec in plan.specs}
    prefix = f"{family}_"
    picked = [(i, spec) for i, spec in enumerate(plan.specs) if spec.family == family]
    specs = tuple(dataclasses.replace(spec, name=spec.name.removeprefix(prefix), family=family,
                                      reference=spec.reference.removeprefix(prefix) if spec.reference else None)
                  for _, spec in picked)
    groups = tuple(plan.groups[i] for i, _ in picked) if plan.groups else ()
    names = {short.name: spec.name for short, (_, spec) in zip(specs, picked, strict=True)}
    return dataclasses.replace(plan, specs=specs, groups=groups), names


def family_statistics(stats: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A family's statistics under the design's names (``names`` from ``family_subplan``)."""
    return {short: stats[full] for short, full in names.items()}
