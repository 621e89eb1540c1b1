"""Deterministic synthetic image–caption data: one coloured shape on a textured background.

Every sample is a *scene* (shape, colour, size, position, background, plus continuous jitter) drawn
from a random stream seeded by ``(seed, sample_id)`` only, so a sample never changes when the
dataset grows or shrinks. Scenes render to uint8 RGB at 32–64 px with 2× supersampling, and each
scene has several captions from varied templates. Class labels (``colour shape``, ``shape`` or
``colour``) serve zero-shot classification.

A scene can also be rendered in a rare *atypical style* (``ATYPICAL_STYLES``: a background of high-contrast
stripes, or heavy pixel noise) that keeps every captioned attribute: the ground truth of "atypical" samples
(``clipmem.data.splits.atypical``).

A scene can be rendered as several *views* (``view > 0`` re-draws the continuous jitter but keeps
every captioned attribute), which gives "several images per caption" without external data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring", "star", "bar")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 215, 40),
    "purple": (140, 60, 190),
    "orange": (245, 140, 30),
    "cyan": (40, 200, 210),
    "pink": (245, 120, 180),
}
SIZES = {"small": (0.16, 0.22), "large": (0.28, 0.36)}  # object radius as a fraction of the side
POSITIONS = {
    "centre": (0.5, 0.5),
    "top left": (0.3, 0.3),
    "top right": (0.7, 0.3),
    "bottom left": (0.3, 0.7),
    "bottom right": (0.7, 0.7),
}
BACKGROUNDS = {"black": (20, 20, 20), "white": (235, 235, 235), "gray": (128, 128, 128), "beige": (200, 180, 140)}
LABEL_KINDS = ("colour_shape", "shape", "colour")
ATYPICAL_STYLES = ("stripes", "noise")

CAPTION_TEMPLATES = (
    "a {size} {colour} {shape} on a {bg} background",
    "a photo of a {colour} {shape}",
    "a {colour} {shape} in the {pos}",
    "a {size} {shape}, coloured {colour}, in the {pos}",
    "there is a {colour} {shape} at the {pos} of a {bg} image",
    "{size} {colour} {shape}",
    "an image of a {colour} {shape} against {bg}",
    "a {bg} picture with a {size} {colour} {shape} in the {pos}",
    "a {shape} that is {colour} and {size}",
    "{colour} {shape}, {pos}, {bg} backdrop",
)
ZEROSHOT_TEMPLATES = (
    "a {}.",
    "a photo of a {}.",
    "an image of a {}.",
    "a picture with a {}.",
    "a small {}.",
    "a large {}.",
)

_SUPERSAMPLE = 2
_CAPTION_STREAM = 2**20  # a seed stream of its own for caption templates, apart from views


@dataclass(frozen=True)
class Scenes:
    """Attributes of N scenes. Categorical fields are int64 indices into the tables above, shape (N,).

    Continuous fields: ``radius`` and centre ``cx``/``cy`` as fractions of the image side,
    ``angle`` in radians, ``tint`` an RGB offset (N, 3) in uint8 units, ``texture_seed`` (N,).
    """

    sample_ids: np.ndarray
    shape: np.ndarray
    colour: np.ndarray
    size: np.ndarray
    position: np.ndarray
    background: np.ndarray
    radius: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    angle: np.ndarray
    tint: np.ndarray
    texture_seed: np.ndarray

    def __len__(self) -> int:
        return len(self.sample_ids)


def _rng(seed: int, sample_id: int, view: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, sample_id, view])


def sample_scenes(sample_ids: np.ndarray, seed: int, view: int = 0) -> Scenes:
    """Draw the scene of each id. Categorical attributes depend on (seed, id) only; jitter also on view."""
    n = len(sample_ids)
    cat = np.empty((n, 5), dtype=np.int64)
    cont = np.empty((n, 8), dtype=np.float64)
    texture_seed = np.empty(n, dtype=np.int64)
    n_cat = (len(SHAPES), len(COLOURS), len(SIZES), len(POSITIONS), len(BACKGROUNDS))
    for row, sid in enumerate(sample_ids):
        base = _rng(seed, int(sid))
        cat[row] = [base.integers(k) for k in n_cat]
        jitter = base if view == 0 else _rng(seed, int(sid), view)
        cont[row] = jitter.random(8)
        texture_seed[row] = jitter.integers(2**31)
    size_lo = np.array([v[0] for v in SIZES.values()])[cat[:, 2]]
    size_hi = np.array([v[1] for v in SIZES.values()])[cat[:, 2]]
    pos = np.array(list(POSITIONS.values()))[cat[:, 3]]
    return Scenes(
        sample_ids=np.asarray(sample_ids, dtype=np.int64),
        shape=cat[:, 0],
        colour=cat[:, 1],
        size=cat[:, 2],
        position=cat[:, 3],
        background=cat[:, 4],
        radius=size_lo + (size_hi - size_lo) * cont[:, 0],
        cx=pos[:, 0] + 0.08 * (cont[:, 1] - 0.5),
        cy=pos[:, 1] + 0.08 * (cont[:, 2] - 0.5),
        angle=np.deg2rad(30.0 * (cont[:, 3] - 0.5)),
        tint=np.round(50.0 * (cont[:, 4:7] - 0.5)),
        texture_seed=texture_seed,
    )


def _inside(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-mask of shape ``name`` at object-frame coordinates (u, v) in units of the radius."""
    if name == "circle":
        return u**2 + v**2 <= 1.0
    if name == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if name == "triangle":
        return (v <= 0.5) & (v >= -1.0 + np.sqrt(3.0) * np.abs(u))
    if name == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    if name == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))
    if name == "ring":
        rho2 = u**2 + v**2
        return (rho2 <= 1.0) & (rho2 >= 0.55**2)
    if name == "star":
        rho, theta = np.sqrt(u**2 + v**2), np.arctan2(v, u)
        return rho <= 0.45 + 0.55 * ((np.cos(5.0 * (theta + np.pi / 2)) + 1.0) / 2.0) ** 2
    if name == "bar":
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 0.35)
    raise ValueError(f"unknown shape {name!r}; known: {SHAPES}")


def _shape_masks(shape: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-masks (N, H, W) for shape indices (N,) at object-frame coordinates u, v (N, H, W)."""
    out = np.zeros(u.shape, dtype=bool)
    for index, name in enumerate(SHAPES):
        rows = np.flatnonzero(shape == index)
        if len(rows):
            out[rows] = _inside(name, u[rows], v[rows])
    return out


def _textures(scenes: Scenes, side: int) -> np.ndarray:
    """Low-amplitude per-image background texture (N, side, side), float in [-1, 1]."""
    coarse = 8
    grids = np.stack(
        [np.random.default_rng(int(t)).uniform(-1.0, 1.0, size=(coarse, coarse)) for t in scenes.texture_seed]
    ).astype(np.float32)
    cell = -(-side // coarse)  # ceil: blocks of this many pixels per texture cell
    return grids.repeat(cell, axis=1).repeat(cell, axis=2)[:, :side, :side]


def render(scenes: Scenes, resolution: int = 32, chunk: int = 512, style: str | None = None) -> torch.Tensor:
    """Render scenes to uint8 RGB images of shape (N, 3, resolution, resolution).

    ``style``: None (the usual rendering) or one of ``ATYPICAL_STYLES``. Works in chunks of ``chunk`` scenes to
    bound memory (about 50 MB per 512 scenes at 64 px).
    """
    if not 8 <= resolution <= 256:
        raise ValueError(f"resolution must be in [8, 256] px, got {resolution}")
    if style is not None and style not in ATYPICAL_STYLES:
        raise ValueError(f"atypical style must be one of {ATYPICAL_STYLES}, got {style!r}")
    out = torch.empty((len(scenes), 3, resolution, resolution), dtype=torch.uint8)
    for start in range(0, len(scenes), chunk):
        rows = slice(start, start + chunk)
        part = Scenes(**{k: v[rows] for k, v in vars(scenes).items()})
        out[rows] = _render_chunk(part, resolution, style)
    return out


def _stripes(scenes: Scenes, side: int, bg: torch.Tensor) -> torch.Tensor:
    """(N, 3, side, side) backgrounds of stripes alternating between each scene's background colour and that
    colour shifted by half the range (mod 256), 1/8 of the side wide, at an angle and phase drawn from the
    scene's texture seed."""
    draws = np.stack([np.random.default_rng([int(t), 1]).random(2) for t in scenes.texture_seed])
    theta = torch.from_numpy(np.pi * draws[:, 0]).float().view(-1, 1, 1)
    phase = torch.from_numpy(2 * np.pi * draws[:, 1]).float().view(-1, 1, 1)
    coords = (torch.arange(side, dtype=torch.float32) + 0.5) / side
    x, y = coords.view(1, 1, -1), coords.view(1, -1, 1)
    wave = torch.sin(2 * np.pi * 4.0 * (x * torch.cos(theta) + y * torch.sin(theta)) + phase)  # 4 periods
    other = torch.remainder(bg + 128.0, 256.0)
    return torch.where((wave > 0).unsqueeze(1), bg, other)


def _noise(scenes: Scenes, side: int) -> torch.Tensor:
    """(N, 3, side, side) Gaussian pixel noise of standard deviation 60 (uint8 units), per scene's texture seed."""
    return torch.stack([torch.from_numpy(np.random.default_rng([int(t), 2]).normal(0.0, 60.0, (3, side, side)))
                        for t in scenes.texture_seed]).float()


def _render_chunk(scenes: Scenes, resolution: int, style: str | None = None) -> torch.Tensor:
    side = resolution * _SUPERSAMPLE
    coords = ((np.arange(side, dtype=np.float32) + 0.5) / side)[None]
    x, y = coords[:, None, :], coords[:, :, None]  # (1, 1, S) and (1, S, 1): broadcast to (N, S, S)
    f32 = np.float32
    dx = x - scenes.cx.astype(f32)[:, None, None]
    dy = y - scenes.cy.astype(f32)[:, None, None]
    cos = np.cos(scenes.angle).astype(f32)[:, None, None]
    sin = np.sin(scenes.angle).astype(f32)[:, None, None]
    r = scenes.radius.astype(f32)[:, None, None]
    u = (cos * dx + sin * dy) / r
    v = (cos * dy - sin * dx) / r
    mask = torch.from_numpy(_shape_masks(scenes.shape, u, v)).unsqueeze(1)  # (N, 1, S, S) bool

    fg = torch.tensor(list(COLOURS.values()), dtype=torch.float32)[scenes.colour]
    fg = (fg + torch.from_numpy(scenes.tint).float())[:, :, None, None]
    bg = torch.tensor(list(BACKGROUNDS.values()), dtype=torch.float32)[scenes.background][:, :, None, None]
    texture = 18.0 * torch.from_numpy(_textures(scenes, side)).unsqueeze(1)
    background = _stripes(scenes, side, bg) if style == "stripes" else bg + texture
    image = torch.nn.functional.avg_pool2d(torch.where(mask, fg, background), _SUPERSAMPLE)
    if style == "noise":
        image = image + _noise(scenes, resolution)
    return image.round_().clamp_(0, 255).to(torch.uint8)


def _names(table: dict | tuple, index: np.ndarray) -> list[str]:
    keys = list(table)
    return [keys[i] for i in index]


def class_names(label_kind: str) -> list[str]:
    """Zero-shot class names for a label kind, in label order."""
    if label_kind == "colour_shape":
        return [f"{c} {s}" for c in COLOURS for s in SHAPES]
    if label_kind == "shape":
        return list(SHAPES)
    if label_kind == "colour":
        return list(COLOURS)
    raise ValueError(f"label_kind must be one of {LABEL_KINDS}, got {label_kind!r}")


def labels(scenes: Scenes, label_kind: str) -> np.ndarray:
    """Integer class label of each scene (N,) for ``label_kind`` (see ``class_names``)."""
    if label_kind == "colour_shape":
        return scenes.colour * len(SHAPES) + scenes.shape
    if label_kind == "shape":
        return scenes.shape.copy()
    if label_kind == "colour":
        return scenes.colour.copy()
    raise ValueError(f"label_kind must be one of {LABEL_KINDS}, got {label_kind!r}")


def captions(scenes: Scenes, seed: int, per_sample: int = 5) -> list[list[str]]:
    """``per_sample`` captions per scene from distinct templates, chosen by (seed, sample_id)."""
    if not 1 <= per_sample <= len(CAPTION_TEMPLATES):
        raise ValueError(f"captions per sample must be in [1, {len(CAPTION_TEMPLATES)}], got {per_sample}")
    fields = zip(
        _names(SHAPES, scenes.shape),
        _names(COLOURS, scenes.colour),
        _names(SIZES, scenes.size),
        _names(POSITIONS, scenes.position),
        _names(BACKGROUNDS, scenes.background),
        strict=True,
    )
    out = []
    for sid, (shape, colour, size, pos, bg) in zip(scenes.sample_ids, fields, strict=True):
        order = _rng(seed, int(sid), view=_CAPTION_STREAM).permutation(len(CAPTION_TEMPLATES))[:per_sample]
        out.append(
            [CAPTION_TEMPLATES[t].format(shape=shape, colour=colour, size=size, pos=pos, bg=bg) for t in order]
        )
    return out
