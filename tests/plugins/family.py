"""A model family outside the package: CLIP trained with a frozen text tower, with its own name, score name and
colour (what reports read from the family itself)."""

from __future__ import annotations

from typing import Any

from clipmem.families import CLIPFamily


class FrozenTextFamily(CLIPFamily):
    """``families.frozen_text``: the CLIP model and score, its text tower never trained."""

    name = "frozen_text"
    score_name = "CLIPMem (text tower frozen)"
    colour = "tab:brown"

    def build_module(self, build: Any, data: Any, log_prefix: str) -> Any:
        return build(log_prefix=log_prefix, lock_text=True)

    def describe(self) -> dict[str, Any]:
        return {"family": self.name, "lock_text": True}
