"""The demo: the reference derivation, then the textbook's font-colour network trained and used."""

from __future__ import annotations

import numpy as np

NAMED_COLOURS = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "yellow": (255, 255, 0),
    "navy": (0, 0, 128),
    "crimson": (220, 20, 60),
    "sky blue": (135, 206, 235),
    "forest green": (34, 139, 34),
    "orange": (255, 165, 0),
}


def _linear(channel: np.ndarray) -> np.ndarray:
    c = channel / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def wcag_dark_font(rgb: np.ndarray) -> np.ndarray:
    """1 where black text has the higher WCAG 2 contrast ratio on the background ``rgb`` (n, 3)."""
    rgb = np.asarray(rgb, dtype=float)
    lum = 0.2126 * _linear(rgb[:, 0]) + 0.7152 * _linear(rgb[:, 1]) + 0.0722 * _linear(rgb[:, 2])
    black = (lum + 0.05) / 0.05
    white = 1.05 / (lum + 0.05)
    return (black > white).astype(int)


def font_colour_data(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random background colours (n, 3) in 0..255 and their WCAG labels (1 = dark font)."""
    rgb = np.random.default_rng(seed).integers(0, 256, size=(n, 3)).astype(float)
    return rgb, wcag_dark_font(rgb)
