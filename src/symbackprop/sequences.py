"""Token layers as a network declares them: ``Embedding`` and ``PositionalEmbedding`` (as PyTorch's), their tokens.

A network whose first layer is an embedding reads ``T`` integer token ids per sample.  Followed by ``flatten``,
it is a context window: the ids are a column (T, 1), the embedding gives (dim, T, 1) and flatten joins the
positions one after another (``emb.view(m, -1)``), so dense layers follow (makemore's MLP).  Otherwise it is a
sequence: the ids are a row (1, T), one a position, every value is (features, T) — one column a position — and
the layers after it act at each position (dense, layernorm, activations, softmax and the cost, the mean over the
positions).  Grammar: ``embed{VOCAB}d{DIM}`` first, ``pos{T}d{DIM}``, ``attn{HEADS}[:nocausal]``,
``rnn{HIDDEN}[:relu]`` and ``lstm{HIDDEN}`` after it in a sequence (and ``lstmcell{HIDDEN}``, one LSTM step, in a
network of columns), e.g.
``3-embed27d10-flatten-64:tanh-27:softmax`` or ``8-embed27d16-pos8d16-64:layernorm:gelu_tanh-27:softmax``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from . import naming
from .errors import DataError, SpecError
from .layers.attention import Concat, Heads, KeySoftmax, Mix, Scores
from .layers.cell import Cell
from .layers.dense import Linear
from .layers.embedding import Embedding as EmbeddingLayer
from .layers.embedding import Positional
from .layers.recurrent import Recurrence

MAX_VOCAB = 1_000_000
MAX_DIM = 100_000
_EMBED = re.compile(r"^embed(\d+)d(\d+)$")
_POS = re.compile(r"^pos(\d+)d(\d+)$")
_ATTN = re.compile(r"^attn(\d+)$")
_RNN = re.compile(r"^(rnn|lstm)(\d+)$")
_CELL = re.compile(r"^lstmcell(\d+)$")


def _whole(name: str, value, top: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        raise SpecError(f"{name} must be a whole number from 1 to {top:,}, not {value!r}")


@dataclass(frozen=True)
class Embedding:
    """``torch.nn.Embedding(vocab, dim)``: table ``E{l}`` (dim, vocab), its weight transposed as dense weights
    are (out, in); the first layer of a network whose inputs are token ids ``0 .. vocab − 1``."""

    vocab: int
    dim: int

    has_params = True

    def __post_init__(self):
        _whole("Embedding vocab", self.vocab, MAX_VOCAB)
        _whole("Embedding dim", self.dim, MAX_DIM)

    @property
    def token(self) -> str:
        return f"embed{self.vocab}d{self.dim}"

    def check(self, number: int, shape) -> None:
        if number != 1:
            raise SpecError(f"layer {number} ({self.token}): an embedding reads token ids, so it must be the first "
                            "layer")

    def nodes(self, number: int, prev: naming.Key, window: bool = True):
        """A context ``window`` (flatten follows) reads T ids per sample; a sequence one id a position."""
        return [(EmbeddingLayer(self.vocab, self.dim, window), naming.pre(number), (prev,))]


@dataclass(frozen=True)
class PositionalEmbedding:
    """A learned position embedding ``P{l}`` (dim, T), added at each position as GPT-2 adds ``wpe``; after the
    embedding of a sequence network of T positions."""

    length: int
    dim: int

    has_params = True

    def __post_init__(self):
        _whole("PositionalEmbedding length", self.length, MAX_DIM)
        _whole("PositionalEmbedding dim", self.dim, MAX_DIM)

    @property
    def token(self) -> str:
        return f"pos{self.length}d{self.dim}"

    needs_sequence = True  # not in a context window that flatten joins

    def check(self, number: int, shape) -> None:
        if len(shape) != 2 or number == 1:
            raise SpecError(f"layer {number} ({self.token}): a position embedding follows the embedding of a "
                            "sequence network (not a context window that flatten joins)")
        if (self.dim, self.length) != tuple(shape):
            raise SpecError(f"layer {number} ({self.token}): its table is {self.dim}×{self.length} (dim × "
                            f"positions), but its input is {shape[0]} features at {shape[1]} positions")

    def nodes(self, number: int, prev: naming.Key, window: bool = True):
        return [(Positional(self.length, self.dim), naming.pre(number), (prev,))]


@dataclass(frozen=True)
class SelfAttention:
    """Multi-head self-attention at every position, as ``F.scaled_dot_product_attention(q, k, v,
    is_causal=causal)`` between projections: ``Q = Wq{l}·A + Bq{l}``, ``K``, ``V`` alike (each (dim, dim) and
    (dim, 1)), the heads splitting the features in order, then ``Wo{l}·O + Bo{l}``."""

    heads: int = 1
    causal: bool = True

    has_params = True
    needs_sequence = True

    def __post_init__(self):
        _whole("SelfAttention heads", self.heads, MAX_DIM)
        if not isinstance(self.causal, bool):
            raise SpecError(f"SelfAttention causal must be True or False, not {self.causal!r}")

    @property
    def token(self) -> str:
        return f"attn{self.heads}" + ("" if self.causal else ":nocausal")

    def check(self, number: int, shape) -> None:
        if len(shape) != 2 or number == 1:
            raise SpecError(f"layer {number} ({self.token}): attention mixes the positions of a sequence network "
                            "(an embedding that flatten does not follow)")
        if shape[0] % self.heads:
            raise SpecError(f"layer {number} ({self.token}): {self.heads} heads do not divide its {shape[0]} "
                            "features")

    def nodes(self, number: int, prev: naming.Key, window: bool = True):
        l, h = number, self.heads
        Q, K, V = (naming.Key(b, l) for b in "QKV")
        out = [(Linear(None, "glorot", True, tag), key, (prev,)) for tag, key in zip("qkv", (Q, K, V))]
        heads = [(Q, K, V, 0)] if h == 1 else [tuple(naming.Key(b, l, k + 1) for b in "QKV") + (k + 1,)
                                               for k in range(h)]
        if h > 1:
            out += [(Heads(k, h), key, (src,)) for k, (q, kk, v, _) in enumerate(heads)
                    for key, src in ((q, Q), (kk, K), (v, V))]
        for k, (q, kk, v, head) in enumerate(heads):
            S, P, O = (naming.Key(b, l, head) for b in "SPO")
            out += [(Scores(self.causal), S, (q, kk)), (KeySoftmax(), P, (S,)),
                    (Mix(h, self.causal, k == 0), O, (v, P))]
        joined = naming.Key("O", l)
        if h > 1:
            out.append((Concat(), joined, tuple(naming.Key("O", l, k + 1) for k in range(h))))
        out.append((Linear(None, "glorot", True, "o"), naming.act(l), (joined,)))
        return out


def _check_recurrent(layer, number: int, shape) -> None:
    if len(shape) != 2 or number == 1:
        raise SpecError(f"layer {number} ({layer.token}): a recurrent layer runs over the positions of a sequence "
                        "network (an embedding that flatten does not follow)")


@dataclass(frozen=True)
class RNN:
    """``torch.nn.RNN(in, hidden, nonlinearity=activation)`` (Elman, one layer, h0 = 0), unrolled through time:
    ``h_t = f(Wx{l}·x_t + Wh{l}·h_{t−1} + B{l})`` with ``Wx{l}`` = ``weight_ih_l0``, ``Wh{l}`` = ``weight_hh_l0``
    and one bias ``B{l}`` = ``bias_ih_l0 + bias_hh_l0``; its output is h at every position (hidden, T)."""

    hidden: int
    activation: str = "tanh"

    has_params = True
    needs_sequence = True

    def __post_init__(self):
        _whole("RNN hidden", self.hidden, MAX_DIM)
        if self.activation not in ("tanh", "relu"):
            raise SpecError(f"RNN activation must be 'tanh' or 'relu' (as torch.nn.RNN's nonlinearity), not "
                            f"{self.activation!r}")

    @property
    def token(self) -> str:
        return f"rnn{self.hidden}" + ("" if self.activation == "tanh" else ":relu")

    def check(self, number: int, shape) -> None:
        _check_recurrent(self, number, shape)

    def nodes(self, number: int, prev: naming.Key, window: bool = True):
        return [(Recurrence(self.hidden, self.activation), naming.act(number), (prev,))]


@dataclass(frozen=True)
class LSTM:
    """``torch.nn.LSTM(in, hidden)`` (one layer, h0 = c0 = 0), unrolled through time, PyTorch's gates in its order
    i, f, g, o: ``Wx{l}`` (4·hidden, in) = ``weight_ih_l0``, ``Wh{l}`` (4·hidden, hidden) = ``weight_hh_l0``, one
    bias ``B{l}`` (4·hidden, 1) = ``bias_ih_l0 + bias_hh_l0``; its output is h at every position (hidden, T)."""

    hidden: int

    has_params = True
    needs_sequence = True

    def __post_init__(self):
        _whole("LSTM hidden", self.hidden, MAX_DIM)

    @property
    def token(self) -> str:
        return f"lstm{self.hidden}"

    def check(self, number: int, shape) -> None:
        _check_recurrent(self, number, shape)

    def nodes(self, number: int, prev: naming.Key, window: bool = True):
        return [(Recurrence(self.hidden, "lstm"), naming.act(number), (prev,))]


@dataclass(frozen=True)
class LSTMCell:
    """``torch.nn.LSTMCell(in, hidden)``, one step, its state in the features: the input is ``[x; h; c]`` (in +
    2·hidden rows), the output ``[h'; c']`` (2·hidden); ``Wx{l}`` (4·hidden, in) = ``weight_ih``, ``Wh{l}``
    (4·hidden, hidden) = ``weight_hh``, one bias ``B{l}`` = ``bias_ih + bias_hh``, the gates in the order i, f, g, o.
    A network of columns (a dense network's); over a sequence's positions, ``lstm{HIDDEN}`` runs the steps."""

    hidden: int

    has_params = True

    def __post_init__(self):
        _whole("LSTMCell hidden", self.hidden, MAX_DIM)

    @property
    def token(self) -> str:
        return f"lstmcell{self.hidden}"

    def check(self, number: int, shape) -> None:
        if len(shape) != 2 or shape[1] != 1:
            raise SpecError(f"layer {number} ({self.token}): one LSTM step takes a column of features [x; h; c] "
                            "(a dense network's); over a sequence's positions use lstm{HIDDEN}")
        if shape[0] <= 2 * self.hidden:
            raise SpecError(f"layer {number} ({self.token}): its input [x; h; c] needs more than 2·{self.hidden} = "
                            f"{2 * self.hidden} features (h and c take {self.hidden} each), not {shape[0]}")

    def nodes(self, number: int, prev: naming.Key, window: bool = True):
        return [(Cell(self.hidden), naming.act(number), (prev,))]


SEQUENCE_LAYERS = (Embedding, PositionalEmbedding, SelfAttention, RNN, LSTM, LSTMCell)


def is_sequence_token(token: str) -> bool:
    return token.startswith(("embed", "pos", "attn", "rnn", "lstm"))


def parse_token(token: str):
    """``embed27d10`` -> ``Embedding(27, 10)``, ``pos8d16`` -> ``PositionalEmbedding(8, 16)``, ``attn4``,
    ``rnn32[:relu]``, ``lstm32``; one line naming the token otherwise."""
    text, options = token.strip().partition(":")[::2]
    attn = _ATTN.match(text)
    if attn and options in ("", "nocausal"):
        return SelfAttention(int(attn.group(1)), causal=not options)
    if attn or text.startswith("attn"):
        raise SpecError(f"{token!r}: expected attn{{HEADS}}[:nocausal], e.g. attn4 (4 heads, causal)")
    cell = _CELL.match(text)
    if cell and not options:
        return LSTMCell(int(cell.group(1)))
    if text.startswith("lstmcell"):
        raise SpecError(f"{token!r}: expected lstmcell{{HIDDEN}}, e.g. lstmcell4 (one LSTM step of 4 hidden units)")
    recurrent = _RNN.match(text)
    if recurrent and recurrent.group(1) == "rnn" and options in ("", "tanh", "relu"):
        return RNN(int(recurrent.group(2)), options or "tanh")
    if recurrent and not options:
        return LSTM(int(recurrent.group(2)))
    if text.startswith(("rnn", "lstm")):
        raise SpecError(f"{token!r}: expected rnn{{HIDDEN}}[:relu] or lstm{{HIDDEN}}, e.g. rnn32 (tanh) or lstm32")
    if options:
        raise SpecError(f"{token!r}: {text} takes no options")
    match, pos = _EMBED.match(text), _POS.match(text)
    if match:
        return Embedding(int(match.group(1)), int(match.group(2)))
    if pos:
        return PositionalEmbedding(int(pos.group(1)), int(pos.group(2)))
    if text.startswith("pos"):
        raise SpecError(f"{token!r}: expected pos{{T}}d{{DIM}}, e.g. pos8d16 (8 positions, 16 dimensions)")
    raise SpecError(f"{token!r}: expected embed{{VOCAB}}d{{DIM}}, e.g. embed27d10 (27 tokens, 10 dimensions)")


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
