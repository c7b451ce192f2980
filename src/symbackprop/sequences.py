"""Token layers as a network declares them: ``Embedding`` (named and defaulted as PyTorch's) and its spec token.

A network whose first layer is an embedding reads ``T`` integer token ids per sample (a column of X, as
``nn.Embedding`` reads a row); the embedding gives one column per position, (dim, T), and ``flatten`` joins them
position after position (``emb.view(m, -1)``, a character model's context window), so dense layers follow.
Grammar: ``embed{VOCAB}d{DIM}`` as the first layer, e.g. ``3-embed27d10-flatten-64:tanh-27:softmax``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from . import naming
from .errors import DataError, SpecError
from .layers.embedding import Embedding as EmbeddingLayer

MAX_VOCAB = 1_000_000
MAX_DIM = 100_000
_EMBED = re.compile(r"^embed(\d+)d(\d+)$")


@dataclass(frozen=True)
class Embedding:
    """``torch.nn.Embedding(vocab, dim)``: table ``E{l}`` (dim, vocab), its weight transposed as dense weights
    are (out, in); the first layer of a network whose inputs are token ids ``0 .. vocab − 1``."""

    vocab: int
    dim: int

    has_params = True

    def __post_init__(self):
        for name, value, top in (("vocab", self.vocab, MAX_VOCAB), ("dim", self.dim, MAX_DIM)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise SpecError(f"Embedding {name} must be a whole number from 1 to {top:,}, not {value!r}")

    @property
    def token(self) -> str:
        return f"embed{self.vocab}d{self.dim}"

    def check(self, number: int, shape) -> None:
        if number != 1:
            raise SpecError(f"layer {number} ({self.token}): an embedding reads token ids, so it must be the first "
                            "layer")

    def nodes(self, number: int, prev: naming.Key):
        return [(EmbeddingLayer(self.vocab, self.dim), naming.pre(number), (prev,))]


SEQUENCE_LAYERS = (Embedding,)


def is_sequence_token(token: str) -> bool:
    return token.startswith("embed")


def parse_token(token: str) -> Embedding:
    """``embed27d10`` -> ``Embedding(27, 10)``; one line naming the token otherwise."""
    match = _EMBED.match(token.strip())
    if not match:
        raise SpecError(f"{token!r}: expected embed{{VOCAB}}d{{DIM}}, e.g. embed27d10 (27 tokens, 10 dimensions)")
    return Embedding(int(match.group(1)), int(match.group(2)))


def check_ids(vocab: int, X: np.ndarray, names, where: str = "", rows=None) -> None:
    """One line naming the first value of ``X`` (samples as rows) that is not a token id 0 .. vocab − 1: its row
    in the file (``rows``: each sample's row number) or its sample, and its column."""
    X = np.asarray(X, dtype=float)
    bad = ~((X == np.floor(X)) & (X >= 0) & (X < vocab))
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        at = f"row {int(rows[row])}" if rows is not None else f"sample {row + 1}"
        raise DataError(f"{where + ': ' if where else ''}{at}, column '{names[col]}': {X[row, col]:g} is not a token "
                        f"id (a whole number from 0 to {vocab - 1}: the embedding has {vocab} tokens)")
