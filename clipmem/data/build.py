"""``build_data``: from the ``data`` settings to the frozen ``ExperimentData`` every model of a plan shares."""

from __future__ import annotations

import dataclasses
import functools
import logging

import torch

from clipmem.data.batches.text import build_tokenizer, tokenize_captions
from clipmem.data.experiment_data import ExperimentData
from clipmem.data.reference import add_reference, join_reference, reference_source
from clipmem.data.settings import DataSettings
from clipmem.data.sources.base import features_of
from clipmem.data.sources.wds_stream import load_for_streaming
from clipmem.data.splits.atypical import inject_atypical
from clipmem.data.splits.fingerprint import content_fingerprints, near_duplicate_count
from clipmem.data.splits.manifest import SplitManifest, make_splits
from clipmem.data.splits.miscaption import inject_miscaptions
from clipmem.data.splits.near_duplicates import duplicate_groups, image_hashes
from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError
from clipmem.progress import step

log = logging.getLogger(__name__)

MISCAPTION_STREAMS = {"candidate": 0, "independent": 1}  # S_C's draw is the same whatever else is injected


def check_caption_count(table: ImageTextTable, train_captions: int) -> None:
    """Refuse ``train_captions`` above the most captions any pair has; say how many pairs have fewer (they draw
    among the captions they have)."""
    counts = [len(c) for c in table.captions]
    most = max(counts, default=0)
    if train_captions > most:
        raise ConfigError(
            f"data.train_captions (mitigation.k of multi_caption) = {train_captions}, but the data has at "
            f"most {most} caption(s) per pair; lower it or use data with more captions "
            "(e.g. data.source.captions_per_sample for the synthetic data)"
        )
    fewer = sum(n < train_captions for n in counts)
    if train_captions > 1 and fewer:
        log.warning("data.train_captions = %d: %d of %d pairs have fewer captions and draw among the ones they have",
                    train_captions, fewer, len(counts))


def augment_captions(table: ImageTextTable, augment, train_captions: int) -> tuple[ImageTextTable, int]:
    """Each pair's training captions followed by their augmented copies, then its other captions.

    Returns the new table and the new number of training captions, ``k·(1 + copies)``.
    """
    k = train_captions
    captions = [c[:k] + list(augment(c[:k], int(sid))) + c[k:]
                for c, sid in zip(table.captions, table.sample_ids.tolist(), strict=True)]
    return table.with_captions(captions, table.miscaptioned, table.caption_source), k * (1 + int(augment.copies))


def inject_ground_truth(table: ImageTextTable, manifest: SplitManifest, settings: DataSettings) -> ImageTextTable:
    """Mis-captions (labels following them with ``data.miscaption.labels``), then atypical samples among the
    pairs left clean, each within its split with a draw of its own (S_C's the same whatever else is injected)."""
    miscaption, atypical = settings.miscaption, settings.atypical
    for split in miscaption["sets"]:  # exchanged within each split, never across splits
        table = inject_miscaptions(table, list(getattr(manifest, split)), miscaption["fraction"],
                                   settings.split_seed, MISCAPTION_STREAMS[split], labels=miscaption["labels"])
    for split in atypical["sets"] if atypical["fraction"] else ():
        render = functools.partial(settings.source.render_atypical, style=atypical["style"])
        table = inject_atypical(table, list(getattr(manifest, split)), atypical["fraction"], settings.split_seed,
                                MISCAPTION_STREAMS[split], render)
    return table


def flagged_ids(table: ImageTextTable) -> dict[str, tuple[int, ...]]:
    """The manifest's record of the injected ground truth: mis-captioned, mislabeled and atypical ids."""
    return {name: tuple(int(i) for i in table.sample_ids[getattr(table, name)].tolist())
            for name in ("miscaptioned", "mislabeled", "atypical")}


def pool_duplicate_groups(table, manifest: SplitManifest) -> tuple[tuple[int, ...], ...]:
    """Near-duplicate groups among the pool (S_C, S_I, S_E) that the table holds (docs/method.md, "Near-duplicates")."""
    pool = [i for i in (*manifest.candidate, *manifest.independent, *manifest.extra)]
    present = table.positions(pool) if pool else torch.zeros(0, dtype=torch.int64)
    return duplicate_groups(pool, image_hashes(table.images[present])) if pool else ()


def build_data(settings: DataSettings) -> ExperimentData:
    """Load the data, draw the splits, inject mis-captions, tokenize, load the zero-shot sets.

    A pure function of ``settings``: the same settings give the same object (ids, captions, pixels).
    """
    stream = None
    if settings.streaming:
        if settings.caption_augment is not None:
            raise ConfigError("mitigation=text_augment is not supported with data.source.streaming=true: "
                              "streamed pairs carry their captions as stored; load the data into memory")
        table, manifest, stream = load_for_streaming(settings.source, settings.splits, settings.split_seed)
    else:
        table = settings.source.load()
        manifest = make_splits(table.sample_ids.numpy(), settings.splits, settings.split_seed)
        if settings.reference_path is not None:  # trusted pairs: in S_S, trained on by every model, never scored
            with step(f"reference pairs: {settings.reference_path}"):
                reference = reference_source(settings.source, settings.reference_path).load()
            table = join_reference(table, reference)
            manifest = add_reference(manifest, table)
    counts = {**table.counts, "near_duplicate_images": near_duplicate_count(table.images)}
    table = dataclasses.replace(table, counts=counts)
    table = inject_ground_truth(table, manifest, settings)
    check_caption_count(table, settings.train_captions)
    train_captions = settings.train_captions
    if settings.caption_augment is not None:
        table, train_captions = augment_captions(table, settings.caption_augment, train_captions)
    fingerprints = content_fingerprints(table, manifest, stream.index.digest if stream is not None else None)
    tokens, counts = tokenize_captions(table.captions, build_tokenizer(settings.context_length))
    groups = pool_duplicate_groups(table, manifest)
    return ExperimentData(
        table=table,
        manifest=dataclasses.replace(manifest, fingerprints=fingerprints, near_duplicates=groups, **flagged_ids(table)),
        tokens=tokens,
        caption_counts=counts,
        train_captions=train_captions,
        train_transform=settings.transform(train=True),
        eval_transform=settings.transform(train=False),
        zeroshot={name: source.build(table, manifest, settings.source) if features_of(source).builds_from_data
                  else source.load() for name, source in settings.zeroshot.items()},
        context_length=settings.context_length,
        batch_size=settings.batch_size,
        eval_batch_size=settings.eval_batch_size,
        num_workers=settings.num_workers,
        stream=stream,
    )
