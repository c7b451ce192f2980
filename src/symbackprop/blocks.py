"""Blocks as a network declares them: a standalone ``LayerNorm()`` and ``Residual([...])``, the parts of a GPT-2 block.

``Residual([LayerNorm(), SelfAttention(4)])`` adds its input to what the layers inside it make of it, as GPT-2's
``x = x + attn(ln_1(x))``; ``Residual([LayerNorm(), Dense(4 * dim, "gelu_tanh"), Dense(dim)])`` is its MLP.  Each layer
inside with parameters takes the next layer number (``gamma3``, ``Wq4``, ...); the sum is ``R{l}``, ``l`` the last.
Grammar: ``layernorm`` alone, and ``res(LAYER+LAYER+...)``, e.g. ``res(layernorm+attn4)``,
``res(layernorm+64:gelu_tanh+16:identity)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import naming
from .errors import SpecError
from .layers.norm import LayerNorm as LayerNormLayer
from .layers.residual import Add


@dataclass(frozen=True)
class LayerNorm:
    """``torch.nn.LayerNorm(features)`` on its own (``eps`` 1e-5): ``N{l} = gamma{l} ⊙ (A − μ)/σ + beta{l}`` over
    the features of each sample, or of each position of a sequence."""

    has_params = True
    token = "layernorm"

    def check(self, number: int, shape) -> None:
        if len(shape) != 2:
            raise SpecError(f"layer {number} (layernorm) normalises the features of a column, not an image: put it "
                            "after flatten")

    def nodes(self, number: int, prev: naming.Key, window: bool = True):
        return [(LayerNormLayer(), naming.Key("N", number), (prev,))]


def span(layer) -> int:
    """How many layer numbers a layer takes: its own when it has parameters, a residual block's inside."""
    return getattr(layer, "span", 1 if getattr(layer, "has_params", True) else 0)


@dataclass(frozen=True)
class Residual:
    """``A + f(A)``: the layers inside (dense, layernorm, attention), one after another, and the block's input
    added to what they give; their output keeps the input's width."""

    layers: tuple

    has_params = True

    def __init__(self, layers):
        object.__setattr__(self, "layers", tuple(layers))
        if not self.layers:
            raise SpecError("a Residual block needs at least one layer inside, e.g. Residual([LayerNorm(), "
                            "SelfAttention(4)])")
        for layer in self.layers:
            if isinstance(layer, Residual) or not hasattr(layer, "nodes"):
                raise SpecError(f"inside a Residual block go Dense, LayerNorm and SelfAttention layers, not "
                                f"{layer!r}")
            if getattr(layer, "dropout", 0) or getattr(layer, "residual", False) or \
                    getattr(layer, "norm", None) == "batchnorm":
                raise SpecError(f"{layer.token} inside a Residual block: dropout, batchnorm and a layer's own "
                                "residual are not there yet")

    @property
    def span(self) -> int:
        return sum(span(layer) for layer in self.layers)

    @property
    def token(self) -> str:
        return "res(" + "+".join(layer.token for layer in self.layers) + ")"

    def nodes(self, number: int, prev: naming.Key, window: bool = True):
        """Every layer inside with its own number (a fourth entry), then the sum ``R{l}``."""
        out, src, n = [], prev, number
        for layer in self.layers:
            how = {"window": window} if hasattr(layer, "needs_sequence") else {}
            for node in layer.nodes(n, src, **how):
                out.append((*node[:3], node[3] if len(node) > 3 else n))
            src, n = out[-1][1], n + span(layer)
        last = n - 1 if n > number else number
        out.append((Add(), naming.Key("R", last), (prev, src), last))
        return out
