"""A sweep compared with a setting of another, finished sweep, paired by seed: for a sweep whose own grid has no
reference, e.g. removal by three rankings against the runs it removed from (no removal), without training that
reference again. ``python evaluate.py sweep_dir=<sweep> reference=<other sweep> reference_setting=<label>``
writes ``sweep_differences_vs_reference.csv/.md`` into the sweep (docs/sweeps.md, "Against another sweep")."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from clipmem.errors import ConfigError
from clipmem.reporting.sweep_jobs import JobRecord, common_overrides, find_jobs, read_job, swept_keys
from clipmem.reporting.sweep_settings import (
    SEED_KEYS,
    Setting,
    difference_rows,
    differences_markdown,
    group_settings,
    paired_differences,
)

REFERENCE_TABLE = "sweep_differences_vs_reference"


@dataclass(frozen=True)
class SweepReference:
    """Where the reference comes from: a finished sweep directory and the label of one of its settings (as in its
    sweep_settings.md, e.g. ``mitigation.sigma=0``; None: its first setting)."""

    sweep_dir: Path
    setting: str | None = None


def reference_setting(reference: SweepReference) -> tuple[Setting, list[JobRecord]]:
    """The chosen setting of the reference sweep (its complete jobs grouped over seeds) and those jobs.

    Raises:
        ConfigError: the label names no setting of that sweep (the error lists them), or the setting has no
            complete job.
    """
    records = [read_job(path) for path in find_jobs(reference.sweep_dir)]
    settings = group_settings(records, swept_keys(records))
    if not settings:
        raise ConfigError(f"reference={reference.sweep_dir}: no job of that sweep is complete")
    labels = [s.label for s in settings]
    if reference.setting is None:
        chosen = settings[0]
    elif reference.setting in labels:
        chosen = settings[labels.index(reference.setting)]
    else:
        raise ConfigError(f"reference_setting={reference.setting!r} is no setting of {reference.sweep_dir}; its "
                          f"settings are: {', '.join(repr(label) for label in labels)}")
    members = [r for r in records if r.job in chosen.jobs]
    return chosen, members


def differing_overrides(records: list[JobRecord], reference: list[JobRecord]) -> list[tuple[str, str, str]]:
    """(key, value in the sweep, value in the reference) for every override, seeds left out, that is the same in all
    jobs on each side but differs between the sides (``–``: not given); what the comparison changes besides the
    sweep's own settings."""
    ours, theirs = common_overrides(records, list(SEED_KEYS)), common_overrides(reference, list(SEED_KEYS))
    keys = list(dict.fromkeys([*ours, *theirs]))
    return [(k, ours.get(k, "–"), theirs.get(k, "–")) for k in keys if ours.get(k, "–") != theirs.get(k, "–")]


def reference_markdown(reference: SweepReference, label: str, changed: list[tuple[str, str, str]],
                       table: str) -> str:
    """The header that says which runs the reference is and what else differs, then the paired table."""
    lines = [f"# Against `{label}` of {reference.sweep_dir}", "",
             "Every setting of this sweep against that setting of the other sweep, paired by seed (the same seed "
             "draws the same initialisation and data order where the configs agree)."]
    if changed:
        lines += ["", "Overrides that differ between this sweep's jobs and the reference's jobs (besides the "
                      "settings below):", "", "| override | this sweep | reference |", "|---|---|---|"]
        lines += [f"| `{k}` | `{ours}` | `{theirs}` |" for k, ours, theirs in changed]
    return "\n".join(lines) + "\n\n" + table


def compare_with_reference(settings: list[Setting], records: list[JobRecord], reference: SweepReference
                           ) -> tuple[list[str], list[dict], str]:
    """The paired differences of every setting of a sweep against the reference setting: the CSV's columns and rows
    and the Markdown text (Holm's correction over the whole table, as in sweep_differences)."""
    chosen, members = reference_setting(reference)
    complete = [r for r in records if r.state == "complete"]
    if not complete:
        raise ConfigError("no job of this sweep is complete: nothing to compare with the reference")
    label = f"reference: {chosen.label}"
    ours = [replace(s, label="this sweep") if s.label == "all" else s for s in settings]  # one setting: no label
    differences = paired_differences([replace(chosen, label=label), *ours])
    columns, rows = difference_rows(differences)
    markdown = reference_markdown(reference, chosen.label, differing_overrides(complete, members),
                                  differences_markdown(differences))
    return columns, rows, markdown
