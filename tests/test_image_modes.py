"""Every image mode PIL reads decodes to the picture it holds (or is refused in one line), never to a blank."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from clipmem.data.sources.images import decode_image, decode_many

SIDE = 32
RAMP = np.tile(np.linspace(0.0, 1.0, SIDE), (SIDE, 1))  # left black -> right white


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _gray(decoded: np.ndarray) -> np.ndarray:
    assert decoded.shape == (3, SIDE, SIDE) and decoded.dtype == np.uint8
    return decoded.astype(np.float64).mean(0) / 255.0


CASES = {
    "L": lambda: _encode(Image.fromarray((RAMP * 255).astype(np.uint8), "L"), "PNG"),
    "LA": lambda: _encode(Image.fromarray((RAMP * 255).astype(np.uint8), "L").convert("LA"), "PNG"),
    "P": lambda: _encode(Image.fromarray((RAMP * 255).astype(np.uint8), "L").convert("P"), "PNG"),
    "RGB": lambda: _encode(Image.fromarray((RAMP * 255).astype(np.uint8), "L").convert("RGB"), "PNG"),
    "RGBA": lambda: _encode(Image.fromarray((RAMP * 255).astype(np.uint8), "L").convert("RGBA"), "PNG"),
    "I;16": lambda: _encode(Image.fromarray((RAMP * 65535).astype(np.uint16)), "PNG"),
    "I (16-bit values)": lambda: _encode(Image.fromarray((RAMP * 65535).astype(np.int32), "I"), "TIFF"),
    "I (8-bit values)": lambda: _encode(Image.fromarray((RAMP * 255).astype(np.int32), "I"), "TIFF"),
    "F": lambda: _encode(Image.fromarray(RAMP.astype(np.float32), "F"), "TIFF"),
    "CMYK JPEG": lambda: _encode(Image.fromarray((RAMP * 255).astype(np.uint8), "L").convert("CMYK"), "JPEG"),
}


@pytest.mark.parametrize("mode", sorted(CASES))
def test_mode_decodes_to_its_ramp(mode):
    data = CASES[mode]()
    gray = _gray(decode_image(data, SIDE))
    assert np.abs(gray - RAMP).mean() < 0.03, (mode, np.abs(gray - RAMP).mean())  # the picture, not a blank


def test_one_bit_images_keep_black_and_white():
    checker = (np.indices((SIDE, SIDE)).sum(0) // 4) % 2 == 0
    gray = _gray(decode_image(_encode(Image.fromarray(checker), "PNG"), SIDE))
    assert set(np.unique(np.round(gray, 2))) == {0.0, 1.0} and abs(gray.mean() - checker.mean()) < 0.05


def test_transparent_pixels_become_white():
    rgba = np.zeros((SIDE, SIDE, 4), dtype=np.uint8)  # fully transparent black
    gray = _gray(decode_image(_encode(Image.fromarray(rgba, "RGBA"), "PNG"), SIDE))
    assert gray.min() == 1.0


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_colour_key_transparency_becomes_white(mode):
    """Greyscale and RGB PNGs whose tRNS chunk names one colour transparent: that colour turns white, others stay."""
    pixels = np.zeros((SIDE, SIDE), dtype=np.uint8)
    pixels[:, SIDE // 2:] = 128
    image = Image.fromarray(pixels, "L").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=0 if mode == "L" else (0, 0, 0))
    gray = _gray(decode_image(buffer.getvalue(), SIDE))
    assert gray[:, : SIDE // 2 - 2].min() == 1.0  # the keyed (transparent) black
    assert abs(gray[:, SIDE // 2 + 2:].mean() - 128 / 255) < 0.01  # an opaque grey keeps its value


def test_values_without_an_unambiguous_8bit_mapping_are_refused_in_one_line():
    wild = _encode(Image.fromarray((RAMP * 1000 - 500).astype(np.float32), "F"), "TIFF")
    (result,) = decode_many([wild], SIDE)
    assert isinstance(result, str) and "no 8-bit mapping is unambiguous" in result and "\n" not in result
