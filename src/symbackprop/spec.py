"""Network specs: the ``3-3:relu-1:logistic`` string, the ``Network``/``Dense`` objects, and their layer graph."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from . import naming
from .activations import get_activation
from .costs import SQUARED_ERROR, Cost, get_cost
from .errors import SpecError
from .layers.base import Layer, Site
from .layers.dense import Linear
from .program import Param

MAX_WIDTH = 100_000
_INT = re.compile(r"^\s*\d+\s*$")


@dataclass(frozen=True)
class Dense:
    """A fully connected layer: ``Z = W·A_prev + B``, ``A = activation(Z)``.

    ``activation`` is a name, an activation, or any elementwise layer object (its own parameters too).
    """

    width: int
    activation: Layer = field(default_factory=lambda: get_activation("identity"))

    def __post_init__(self):
        object.__setattr__(self, "activation", get_activation(self.activation))
        if isinstance(self.width, bool) or not isinstance(self.width, int):
            raise SpecError(f"layer width must be a whole number, not {self.width!r}")
        if not 1 <= self.width <= MAX_WIDTH:
            raise SpecError(f"layer width must be between 1 and {MAX_WIDTH}, not {self.width}")

    def nodes(self, number: int, prev: naming.Key, n_in: int) -> list[tuple[Layer, naming.Key, naming.Key, int]]:
        """``(layer, out, in, n_in)`` for the dense part and the activation of layer ``number``."""
        init = "he" if getattr(self.activation, "he_init", False) else "glorot"
        return [(Linear(self.width, init), naming.pre(number), prev, n_in),
                (self.activation, naming.act(number), naming.pre(number), self.width)]


@dataclass(frozen=True)
class Node:
    """One layer of the graph at its site: what it reads and writes, and its parameters."""

    layer: Layer
    site: Site


@dataclass(frozen=True)
class Network:
    """A feed-forward network: ``inputs`` features, then ``layers``, scored by ``cost``."""

    inputs: int
    layers: tuple[Dense, ...]
    cost: Cost = SQUARED_ERROR

    def __init__(self, inputs: int, layers, cost: str | Cost | None = None):
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "layers", tuple(layers))
        object.__setattr__(self, "cost", SQUARED_ERROR)
        self._validate_layers()
        object.__setattr__(self, "cost", get_cost(default_cost(self) if cost is None else cost))
        self.cost.check_fits(self.output.activation)

    def _validate_layers(self) -> None:
        if isinstance(self.inputs, bool) or not isinstance(self.inputs, int):
            raise SpecError(f"the number of inputs must be a whole number, not {self.inputs!r}")
        if not 1 <= self.inputs <= MAX_WIDTH:
            raise SpecError(f"the number of inputs must be between 1 and {MAX_WIDTH}, not {self.inputs}")
        if not self.layers:
            raise SpecError("a network needs at least one layer, e.g. '3-3:relu-1:logistic'")
        for number, layer in enumerate(self.layers, start=1):
            if not isinstance(layer, Dense):
                raise SpecError(f"layer {number} must be a Dense layer, not {layer!r}")
            if "output-only" in layer.activation.traits and number != len(self.layers):
                raise SpecError(f"{layer.activation.name} is for the output layer only, but layer {number} of "
                                f"{len(self.layers)} uses it")
        out = self.output
        if getattr(out.activation, "outputs", "") == "distribution" and out.width == 1:
            raise SpecError(f"a {out.activation.name} over 1 unit is always 1 and learns nothing: use "
                            f"1:logistic for two classes, or {out.activation.name} over 2 or more units")

    @cached_property
    def nodes(self) -> tuple[Node, ...]:
        """The layer graph in topological order (each node's inputs come before it)."""
        out, prev, n_in = [], naming.X, self.inputs
        for number, dense in enumerate(self.layers, start=1):
            for layer, key, src, width_in in dense.nodes(number, prev, n_in):
                shape = (layer.width(width_in), 1)
                site = Site(number, key, (src,), ((width_in, 1),), shape, layer.params(number, width_in),
                            (src != naming.X,))
                out.append(Node(layer, site))
                prev, n_in = key, shape[0]
        return tuple(out)

    @cached_property
    def params(self) -> tuple[Param, ...]:
        return tuple(p for node in self.nodes for p in node.site.params)

    @property
    def output(self) -> Dense:
        return self.layers[-1]

    @property
    def outputs(self) -> int:
        return self.output.width

    @property
    def depth(self) -> int:
        return len(self.layers)

    def widths(self) -> list[int]:
        """``[inputs, n1, n2, ...]``."""
        return [self.inputs, *(layer.width for layer in self.layers)]

    def shapes(self) -> dict[str, tuple[int, int]]:
        """Parameter shapes ``{"W1": (n1, n0), "B1": (n1, 1), ...}`` in layer order."""
        return {p.name: p.shape for p in self.params}

    @property
    def n_params(self) -> int:
        return sum(p.size for p in self.params)

    @property
    def spec(self) -> str:
        """The compact spec string, e.g. ``3-3:relu-1:logistic``."""
        return "-".join([str(self.inputs)] + [f"{ly.width}:{ly.activation.name}" for ly in self.layers])

    def __str__(self) -> str:
        return self.spec

    def with_cost(self, cost: str | Cost) -> Network:
        return Network(self.inputs, self.layers, cost)


def default_cost(network) -> str:
    """cross_entropy for a softmax (distribution) output, squared_error otherwise."""
    return "cross_entropy" if getattr(network.output.activation, "outputs", "") == "distribution" else \
        "squared_error"


def parse_spec(text: str, cost: str | Cost | None = None) -> Network:
    """Parse ``INPUTS-WIDTH:ACT-WIDTH:ACT...`` into a :class:`Network`; clear errors name the bad token.

    ``cost`` defaults to cross_entropy for a softmax output and squared_error otherwise; a :class:`Network`
    passes through, keeping its cost unless one is given.
    """
    if isinstance(text, Network):
        return text if cost is None else text.with_cost(cost)
    if not isinstance(text, str) or not text.strip():
        raise SpecError("empty network spec; expected INPUTS-WIDTH:ACT-..., e.g. '3-3:relu-1:logistic'")
    tokens = text.strip().split("-")
    if not _INT.match(tokens[0]):
        raise SpecError(f"spec {text!r} must start with the number of inputs, not {tokens[0]!r}")
    if len(tokens) < 2:
        raise SpecError(f"spec {text!r} has no layers; expected e.g. '{tokens[0].strip()}-1:logistic'")
    layers = []
    for number, token in enumerate(tokens[1:], start=1):
        width, sep, act = token.partition(":")
        if not _INT.match(width):
            what = "missing width" if not width.strip() else f"bad width {width.strip()!r}"
            raise SpecError(f"{what} in layer {number} ({token!r}) of spec {text!r}; expected WIDTH:ACTIVATION")
        if not sep or not act.strip():
            raise SpecError(f"missing activation in layer {number} ({token!r}) of spec {text!r}; "
                            "expected WIDTH:ACTIVATION, e.g. '3:relu'")
        try:
            layers.append(Dense(int(width), act.strip()))
        except SpecError as err:
            raise SpecError(f"{err} (layer {number} of spec {text!r})") from None
    return Network(int(tokens[0]), layers, cost)
