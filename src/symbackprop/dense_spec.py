"""The spec's dense layer: ``Dense`` (width, norm, activation, dropout, residual, bias), its token in the grammar,
and the graph nodes it stands for."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import naming
from .activations import get_activation
from .errors import SpecError
from .layers.base import Layer
from .layers.batchnorm import BatchNorm, BatchNormEval
from .layers.dense import Linear
from .layers.dropout import Dropout
from .layers.norm import LayerNorm
from .layers.residual import Add

MAX_WIDTH = 100_000
MAX_DROPOUT = 0.99  # inverted dropout scales by 1/(1 - P): bounded, so the scale stays a number
_INT = re.compile(r"^\s*\d+\s*$")

NORMS = {"layernorm": LayerNorm, "batchnorm": BatchNorm, "batchnorm_eval": BatchNormEval}
USER_NORMS = ("layernorm", "batchnorm")  # batchnorm_eval is how a trained network predicts, not for specs
NOT_YET: dict[str, str] = {}
EVAL = {"batchnorm": "batchnorm_eval"}  # a norm as the trained network predicts


def mask(layer: int) -> naming.Key:
    """``M{l}``: the dropout mask of layer ``l``, an input like X (0 or 1 per unit and sample)."""
    return naming.Key("M", layer)


@dataclass(frozen=True)
class Dense:
    """A fully connected layer: ``Z = W·A_prev + B``, ``N = norm(Z)`` when ``norm`` is given,
    ``A = activation(N)``, and with ``residual=True`` ``A = A_prev + activation(N)``.

    ``activation`` is a name, an activation, or any elementwise layer object (its own parameters too);
    ``norm`` is ``"layernorm"`` or ``None``; ``bias=False``: ``Z = W·A_prev``, no ``B`` (``nn.Linear(bias=False)``).
    """

    width: int
    activation: Layer = field(default_factory=lambda: get_activation("identity"))
    norm: str | None = None
    residual: bool = False
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self):
        object.__setattr__(self, "activation", get_activation(self.activation))
        if isinstance(self.width, bool) or not isinstance(self.width, int):
            raise SpecError(f"layer width must be a whole number, not {self.width!r}")
        if not 1 <= self.width <= MAX_WIDTH:
            raise SpecError(f"layer width must be between 1 and {MAX_WIDTH}, not {self.width}")
        if self.norm is not None and self.norm not in NORMS:
            raise SpecError(NOT_YET.get(self.norm, f"unknown norm {self.norm!r} (choose layernorm or batchnorm)"))
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or \
                not 0 <= self.dropout <= MAX_DROPOUT:
            raise SpecError(f"dropout must be at least 0 and at most {MAX_DROPOUT}, not {self.dropout!r}")
        if not isinstance(self.residual, bool):
            raise SpecError(f"residual must be True or False, not {self.residual!r}")
        if not isinstance(self.bias, bool):
            raise SpecError(f"bias must be True or False, not {self.bias!r}")

    @property
    def token(self) -> str:
        """This layer in the spec grammar: ``WIDTH[:NORM]:ACT[:dropout=P][:residual][:nobias]``."""
        return ":".join([str(self.width), *([self.norm] if self.norm else []), self.activation.name,
                         *([f"dropout={self.dropout:g}"] if self.dropout else []),
                         *(["residual"] if self.residual else []), *([] if self.bias else ["nobias"])])

    def nodes(self, number: int, prev: naming.Key) -> list[tuple[Layer, naming.Key, tuple[naming.Key, ...]]]:
        """``(layer, out, ins)`` for the dense part, the norm, the activation and the residual add of layer
        ``number``."""
        init = "he" if getattr(self.activation, "he_init", False) and not self.norm else "glorot"
        out = [(Linear(self.width, init, self.bias), naming.pre(number), (prev,))]
        src = naming.pre(number)
        if self.norm:
            out.append((NORMS[self.norm](), naming.Key("N", number), (src,)))
            src = naming.Key("N", number)
        branch = naming.Key("R", number) if self.residual else naming.act(number)
        activated = naming.Key("H", number) if self.dropout else branch
        out.append((self.activation, activated, (src,)))
        if self.dropout:
            out.append((Dropout(self.dropout), branch, (activated, mask(number))))
        if self.residual:
            out.append((Add(), naming.act(number), (prev, branch)))
        return out
