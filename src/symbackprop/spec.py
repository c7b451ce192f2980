"""Network specs: the ``Network`` object of a ``3-3:relu-1:logistic`` string (its ``Dense`` layers in dense_spec),
and its layer graph."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from . import naming
from .blocks import LayerNorm as LayerNormBlock
from .blocks import Residual, span
from .costs import SQUARED_ERROR, Cost, get_cost
from .dense_spec import EVAL, MAX_WIDTH, Dense, mask
from .errors import SpecError
from .images import IMAGE_LAYERS, MAX_SIZE
from .layers.base import Layer, Site
from .program import Param
from .sequences import SEQUENCE_LAYERS, LSTMCell

BLOCK_LAYERS = (LayerNormBlock, Residual)


@dataclass(frozen=True)
class Node:
    """One layer of the graph at its site: what it reads and writes, and its parameters."""

    layer: Layer
    site: Site


@dataclass(frozen=True)
class Network:
    """A feed-forward network: ``inputs`` features, then ``layers``, scored by ``cost``.

    ``l2`` (λ ≥ 0) adds weight decay: the batch cost gains λ·Σ‖W_l‖² over every weight matrix (biases and norm
    parameters are not penalised), and each weight gradient 2λ·W_l.
    """

    inputs: int
    layers: tuple[Dense, ...]
    cost: Cost = SQUARED_ERROR
    l2: float = 0.0
    image: tuple[int, int, int] | None = None  # (C, H, W) of an image input; its C·H·W features are ``inputs``

    def __init__(self, inputs: int | tuple[int, int, int], layers, cost: str | Cost | None = None, l2: float = 0.0):
        if isinstance(inputs, (tuple, list)):
            image = tuple(inputs)
            if len(image) != 3 or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_SIZE
                                          for n in image):
                raise SpecError(f"an image input is (channels, height, width) of whole numbers, not {inputs!r}")
            object.__setattr__(self, "image", image)
            inputs = math.prod(image)
        else:
            object.__setattr__(self, "image", None)
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "layers", tuple(layers))
        object.__setattr__(self, "cost", SQUARED_ERROR)
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not math.isfinite(l2) or l2 < 0:
            raise SpecError(f"--l2 must be a number of at least 0, not {l2!r}")
        object.__setattr__(self, "l2", float(l2))
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
        width, shape = self.inputs, self.input_shape
        for number, layer in enumerate(self.layers, start=1):
            if isinstance(layer, SEQUENCE_LAYERS):
                layer.check(number, shape if self.positions or not getattr(layer, "needs_sequence", False) else ())
                if self.image:
                    raise SpecError(f"layer 1 ({layer.token}) reads token ids, but the input is an image: declare "
                                    "the input as the number of tokens a sample has")
                shape = self._shapes_through(layer, shape, window=not self.positions)
                width = shape[0]
                continue
            if isinstance(layer, BLOCK_LAYERS):
                shape = self._through_block(number, layer, shape)
                width = shape[0]
                continue
            if self.positions and (getattr(layer, "dropout", 0) or getattr(layer, "norm", None) == "batchnorm"):
                raise SpecError(f"layer {number} ({layer.token}): dropout and batchnorm in a sequence network are "
                                "not there yet (layernorm is)")
            if isinstance(layer, IMAGE_LAYERS):
                if len(shape) == 3 and layer.token != "flatten":
                    raise SpecError(f"layer {number} ({layer.token}) takes an image, but its input is a sequence "
                                    f"of {shape[1]} positions: put flatten after the embedding")
                if self.positions:
                    raise SpecError(f"layer {number} ({layer.token}) takes an image, but its input is a sequence of "
                                    f"{self.positions} positions (flatten joins a context window only right after "
                                    "the embedding)")
                if len(shape) == 2:
                    raise SpecError(f"layer {number} ({layer.token}) takes an image, but its input is "
                                    f"{shape[0]} features" + ("" if self.image else "; declare the input as CxHxW"))
                layer.check(number, shape)
                shape = self._shapes_through(layer, shape)
                width = shape[0]
                continue
            if not isinstance(layer, Dense):
                raise SpecError(f"layer {number} must be a Dense, image or Embedding layer, not {layer!r}")
            if len(shape) == 3:
                raise SpecError(f"layer {number} ({layer.token}) is dense, but its input is a context window of "
                                f"{shape[1]} positions of {shape[0]} features: flatten joins them right after the "
                                "embedding")
            if len(shape) != 2:
                image = "×".join(map(str, shape[:-1]))
                raise SpecError(f"layer {number} ({layer.token}) is dense, but its input is a {image} image: put "
                                "flatten (or gap) before it")
            shape = (layer.width, shape[-1])  # a sequence keeps its positions: the layer acts at each
            if "output-only" in layer.activation.traits and number != len(self.layers):
                raise SpecError(f"{layer.activation.name} is for the output layer only, but layer {number} of "
                                f"{len(self.layers)} uses it")
            if layer.dropout and number == len(self.layers):
                raise SpecError(f"the output layer ({layer.token}) cannot have dropout: its activation is the "
                                "prediction")
            if layer.residual and number == len(self.layers):
                raise SpecError(f"the output layer ({layer.token}) cannot be residual: its activation is the "
                                "prediction")
            if layer.residual and layer.width != width:
                raise SpecError(f"layer {number} ({layer.token}) adds its input to its output, so its width must "
                                f"equal the previous width {width}, not {layer.width}")
            width = layer.width
        out = self.output
        if not isinstance(out, Dense):
            raise SpecError(f"the last layer ({out.token}) must be a dense layer: its activation is the prediction")
        if getattr(out.activation, "outputs", "") == "distribution" and out.width == 1:
            raise SpecError(f"a {out.activation.name} over 1 unit is always 1 and learns nothing: use "
                            f"1:logistic for two classes, or {out.activation.name} over 2 or more units")

    def _through_block(self, number: int, block, shape) -> tuple[int, ...]:
        """The shape after a standalone layernorm or a residual block, its layers checked one by one."""
        inner = block.layers if isinstance(block, Residual) else (block,)
        out = shape
        for layer in inner:
            if "output-only" in getattr(getattr(layer, "activation", None), "traits", ()):
                raise SpecError(f"layer {number} ({block.token}): {layer.activation.name} is for the output layer "
                                "only, not inside a block")
            if isinstance(layer, SEQUENCE_LAYERS + BLOCK_LAYERS):
                layer.check(number, out if self.positions or not getattr(layer, "needs_sequence", False) else ())
            elif len(out) != 2:
                raise SpecError(f"layer {number} ({block.token}): its dense layers take columns, not an image")
            out = self._shapes_through(layer, out, **({"window": not self.positions}
                                                      if isinstance(layer, SEQUENCE_LAYERS + BLOCK_LAYERS) else {}))
        if isinstance(block, Residual) and out != shape:
            raise SpecError(f"layer {number} ({block.token}) adds its input to its output, so its layers must give "
                            f"back {shape[0]} features, not {out[0]}")
        return out

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The per-sample shape of X: (inputs, 1), (C, H, W, 1) for an image, or (1, T) for a sequence of T
        token ids (one column a position)."""
        if self.positions:
            return (1, self.positions)
        return (*self.image, 1) if self.image else (self.inputs, 1)

    @property
    def positions(self) -> int:
        """T for a sequence network (its first layer an embedding that flatten does not follow: each position is
        a column, and per-position layers follow), else 0."""
        if self.vocab is None or (len(self.layers) > 1 and getattr(self.layers[1], "token", "") == "flatten"):
            return 0
        return self.inputs

    @property
    def numbers(self) -> tuple[int, ...]:
        """Each layer's number: layers with parameters count (W1/B1, W2/B2, ...); a pool or flatten takes the
        number of the layer before it; a residual block the first of its layers'."""
        out, number = [], 0
        for layer in self.layers:
            k = span(layer)  # a residual block's layers each take one: the block's is its first
            out.append(number + 1 if k else number)
            number += k
        return tuple(out)

    @staticmethod
    def _shapes_through(spec_layer, shape, **how) -> tuple[int, ...]:
        """The output shape of a layer (its nodes in order) for an input of ``shape``."""
        shapes, key = {naming.X: shape}, naming.X
        for node in spec_layer.nodes(0, naming.X, **how):
            layer, key, srcs = node[:3]
            shapes[key] = layer.out_shape(tuple(shapes.get(s, shape) for s in srcs))  # a mask: the input's shape
        return shapes[key]

    @cached_property
    def nodes(self) -> tuple[Node, ...]:
        """The layer graph in topological order (each node's inputs come before it)."""
        out, prev, shapes = [], naming.X, {naming.X: self.input_shape, **dict(self.masks)}
        inputs = {naming.X, *(k for k, _ in self.masks)}
        for number, spec_layer in zip(self.numbers, self.layers):
            how = {"window": not self.positions} if isinstance(spec_layer, SEQUENCE_LAYERS + BLOCK_LAYERS) else {}
            for layer, key, srcs, *own in spec_layer.nodes(number, prev, **how):  # own: a block's layer number
                if key in shapes:
                    raise SpecError(f"two layers would both be named {key} ({spec_layer.token}): put a layer with "
                                    "parameters between them")
                in_shapes = tuple(shapes[s] for s in srcs)
                shapes[key] = layer.out_shape(in_shapes)
                n = own[0] if own else number
                site = Site(n, key, srcs, in_shapes, shapes[key], layer.params(n, in_shapes[0][0]),
                            tuple(s not in inputs for s in srcs))
                out.append(Node(layer, site))
            prev = out[-1].site.out
        return tuple(out)

    @property
    def masks(self) -> tuple[tuple[naming.Key, tuple[int, int]], ...]:
        """``(M{l}, (width, 1))`` for each layer with dropout: inputs like X, drawn by the trainer."""
        return tuple((mask(number), (layer.width, 1)) for number, layer in zip(self.numbers, self.layers)
                     if getattr(layer, "dropout", 0))

    @property
    def batch_coupled(self) -> bool:
        """Whether training couples the samples of a batch (batchnorm's statistics)."""
        return any(getattr(d, "norm", None) == "batchnorm" for d in self.layers)

    @property
    def vocab(self) -> int | None:
        """The vocabulary of a network that reads token ids (its first layer an embedding), else ``None``."""
        return getattr(self.layers[0], "vocab", None)

    @property
    def has_images(self) -> bool:
        """Whether some value is a tensor, an image or a sequence of token embeddings (the tensor layers: the
        matrix-only printers refuse these)."""
        return self.image is not None or self.vocab is not None or any(isinstance(ly, LSTMCell) for ly in self.layers)

    @property
    def tensor_layers(self) -> str:
        """In words, what makes :attr:`has_images` true: "image layers", "token layers" or "an LSTM cell"."""
        return "image layers" if self.image is not None else "token layers" if self.vocab is not None else \
            "an LSTM cell"

    def require_matrices(self, what: str) -> None:
        """One line when ``what`` (a printer or path that knows only matrices) is asked of an image or token
        network."""
        if self.vocab is not None:
            can = ("derive, report, gradcheck, compile for numpy, jax and torch, train on a text and export to NumPy, "
                   "JAX and PyTorch" if self.positions else
                   "derive, report, gradcheck, compile for numpy, jax and torch, train mini-batches (--batch-size), "
                   "predict and export to NumPy, JAX, PyTorch and C")
            raise SpecError(f"{what} is not available for token networks yet ({self.spec}): they {can}")
        if self.has_images and self.image is None:
            raise SpecError(f"{what} is not available for a network with an LSTM cell yet ({self.spec}): it derives, "
                            "reports, gradchecks, compiles for numpy, jax and torch, trains mini-batches "
                            "(--batch-size), predicts and exports to NumPy, JAX, PyTorch and C")
        if self.has_images:
            raise SpecError(f"{what} is not available for image networks yet ({self.spec}): they derive, report, "
                            "gradcheck, compile for numpy, jax and torch, train mini-batches (--batch-size), predict "
                            "and export to NumPy, JAX, PyTorch and C")

    def require_samples(self, what: str) -> None:
        """One line when ``what`` (a path that takes one target per sample) is asked of a sequence network."""
        if self.positions:
            raise SpecError(f"{what} is not there yet for sequence networks ({self.spec}: a prediction at every "
                            "position): they derive, report, gradcheck, compile for numpy, jax and torch, train "
                            "on a text (train TEXT.txt) and export to NumPy, JAX, PyTorch and C")

    def eval(self) -> Network:
        """The network as it predicts: without dropout, batchnorm with its running statistics (its parameters,
        ``rmean{l}`` and ``rvar{l}``, join the trained ones)."""
        if not self.masks and not self.batch_coupled:
            return self
        layers = [Dense(d.width, d.activation, EVAL.get(d.norm, d.norm), d.residual) if isinstance(d, Dense) else d
                  for d in self.layers]
        return Network(self.input, layers, self.cost, self.l2)

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

    @property
    def input(self) -> int | tuple[int, int, int]:
        """The input as declared: a number of features, or (C, H, W)."""
        return self.image or self.inputs

    def widths(self) -> list[int]:
        """``[inputs, n1, n2, ...]`` (an image layer's width: its channels)."""
        return [self.inputs, *(getattr(layer, "width", getattr(layer, "out_channels", 0)) for layer in self.layers)]

    def shapes(self) -> dict[str, tuple[int, int]]:
        """Parameter shapes ``{"W1": (n1, n0), "B1": (n1, 1), ...}`` in layer order."""
        return {p.name: p.shape for p in self.params}

    @property
    def n_params(self) -> int:
        return sum(p.size for p in self.params)

    @property
    def spec(self) -> str:
        """The compact spec string, e.g. ``3-3:relu-1:logistic``."""
        first = "x".join(map(str, self.image)) if self.image else str(self.inputs)
        return "-".join([first] + [ly.token for ly in self.layers])

    def __str__(self) -> str:
        return self.spec

    def with_cost(self, cost: str | Cost) -> Network:
        return Network(self.input, self.layers, cost, self.l2)

    @property
    def has_logits(self) -> bool:
        """Whether the output is a probability (logistic) or a distribution (softmax) of logits ``Z``."""
        return getattr(self.output.activation, "outputs", "real") in ("probability", "distribution")

    def logits(self) -> Network:
        """The network up to its logits: the output activation, when it is logistic or softmax, left out (what a
        framework's ``forward`` returns, for ``F.cross_entropy`` or ``optax.softmax_cross_entropy``)."""
        if not self.has_logits:
            return self
        out = self.output
        layers = [*self.layers[:-1], Dense(out.width, "identity", out.norm, out.residual, out.dropout)]
        return Network(self.input, layers, "squared_error", self.l2)

    def with_l2(self, l2: float) -> Network:
        return Network(self.input, self.layers, self.cost, l2)


def default_cost(network) -> str:
    """cross_entropy for a softmax (distribution) output, squared_error otherwise."""
    return "cross_entropy" if getattr(network.output.activation, "outputs", "") == "distribution" else \
        "squared_error"
