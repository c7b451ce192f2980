"""Image layers as a network declares them: ``Conv2d``, ``MaxPool2d``, ``AvgPool2d``, ``GlobalAvgPool2d``,
``Flatten`` (named and defaulted as PyTorch's), and their tokens in the spec grammar.

Grammar (one token a layer, between ``-``): ``conv{OUT}k{K}[s{S}][p{P}][:ACT][:nobias]`` (``conv8k3p1:relu``),
``maxpool{K}[s{S}]``, ``avgpool{K}[s{S}]``, ``gap`` (global average pool) and ``flatten``; the input is
``C×H×W`` written ``1x8x8``.  Sizes floor as PyTorch's: ⌊(H + 2p − k)/s⌋ + 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import naming
from .activations import get_activation
from .errors import SpecError, did_you_mean
from .layers.base import Layer
from .layers.conv import Convolution
from .layers.pool import Flatten as FlattenLayer
from .layers.pool import GlobalAvgPool, Pool

MAX_SIZE = 4096  # channels, kernel, stride or padding
_CONV = re.compile(r"^conv(\d+)k(\d+)(?:s(\d+))?(?:p(\d+))?$")
_POOL = re.compile(r"^(max|avg)pool(\d+)(?:s(\d+))?$")
KINDS = ("conv", "maxpool", "avgpool", "gap", "flatten")


def _whole(name: str, value, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= MAX_SIZE:
        raise SpecError(f"{name} must be a whole number from {least} to {MAX_SIZE}, not {value!r}")
    return value


def _square(name: str, value) -> int:
    if isinstance(value, tuple):
        if len(value) != 2 or value[0] != value[1]:
            raise SpecError(f"{name} must be one number (square windows), not {value!r}")
        value = value[0]
    return _whole(name, value, 1)


@dataclass(frozen=True)
class Conv2d:
    """``torch.nn.Conv2d(in, out_channels, kernel_size, stride, padding, bias)`` followed by ``activation``:
    weight ``W{l}`` (out, in, k, k), bias ``B{l}`` (out,)."""

    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    activation: Layer = field(default_factory=lambda: get_activation("identity"))
    bias: bool = True

    def __post_init__(self):
        object.__setattr__(self, "activation", get_activation(self.activation or "identity"))
        _whole("Conv2d out_channels", self.out_channels, 1)
        object.__setattr__(self, "kernel_size", _square("Conv2d kernel_size", self.kernel_size))
        _whole("Conv2d stride", self.stride, 1)
        _whole("Conv2d padding", self.padding, 0)
        if not isinstance(self.bias, bool):
            raise SpecError(f"Conv2d bias must be True or False, not {self.bias!r}")
        if "output-only" in self.activation.traits:
            raise SpecError(f"{self.activation.name} is for the output layer only, not a convolution")

    has_params = True

    @property
    def token(self) -> str:
        text = f"conv{self.out_channels}k{self.kernel_size}"
        text += (f"s{self.stride}" if self.stride != 1 else "") + (f"p{self.padding}" if self.padding else "")
        text += f":{self.activation.name}" if self.activation.name != "identity" else ""
        return text + ("" if self.bias else ":nobias")

    def check(self, number: int, shape) -> None:
        c, h, w, _ = shape
        for axis, n in (("height", h), ("width", w)):
            if self.kernel_size > n + 2 * self.padding:
                raise SpecError(f"layer {number} ({self.token}): its {self.kernel_size}×{self.kernel_size} kernel is "
                                f"larger than its input's padded {axis}, {n} + 2·{self.padding} = "
                                f"{n + 2 * self.padding}")

    def nodes(self, number: int, prev: naming.Key):
        init = "he" if getattr(self.activation, "he_init", False) else "glorot"
        conv = Convolution(self.out_channels, (self.kernel_size,) * 2, self.stride, self.padding, self.bias, init)
        return [(conv, naming.pre(number), (prev,)), (self.activation, naming.act(number), (naming.pre(number),))]


@dataclass(frozen=True)
class _Pool:
    kernel_size: int
    stride: int | None = None

    has_params = False
    kind = "max"

    def __post_init__(self):
        object.__setattr__(self, "kernel_size", _square(f"{type(self).__name__} kernel_size", self.kernel_size))
        stride = self.kernel_size if self.stride is None else self.stride
        object.__setattr__(self, "stride", _whole(f"{type(self).__name__} stride", stride, 1))

    @property
    def token(self) -> str:
        return f"{self.kind}pool{self.kernel_size}" + (f"s{self.stride}" if self.stride != self.kernel_size else "")

    def check(self, number: int, shape) -> None:
        c, h, w, _ = shape
        if self.kernel_size > min(h, w):
            raise SpecError(f"layer {number} ({self.token}): its {self.kernel_size}×{self.kernel_size} window is "
                            f"larger than its {h}×{w} input")

    def nodes(self, number: int, prev: naming.Key):
        return [(Pool(self.kind, self.kernel_size, self.stride), naming.Key("P", number), (prev,))]


class MaxPool2d(_Pool):
    """``torch.nn.MaxPool2d(kernel_size, stride=kernel_size)``: ties go to the first maximum."""

    kind = "max"


class AvgPool2d(_Pool):
    """``torch.nn.AvgPool2d(kernel_size, stride=kernel_size)``."""

    kind = "avg"


@dataclass(frozen=True)
class _Whole:
    """A layer of no parameters that takes the whole image: ``layer`` (its engine layer) under ``symbol``."""

    has_params = False

    def check(self, number: int, shape) -> None:
        pass

    def nodes(self, number: int, prev: naming.Key):
        return [(self.layer(), naming.Key(self.symbol, number), (prev,))]


class GlobalAvgPool2d(_Whole):
    """The mean of each channel over its positions: one value per channel, a vector a ``Dense`` follows."""

    token, symbol, layer = "gap", "G", GlobalAvgPool


class Flatten(_Whole):
    """(C, H, W) -> C·H·W features in C order (``torch.flatten(x, 1)``)."""

    token, symbol, layer = "flatten", "F", FlattenLayer


IMAGE_LAYERS = (Conv2d, MaxPool2d, AvgPool2d, GlobalAvgPool2d, Flatten)


def is_image_token(token: str) -> bool:
    """Whether a spec token names an image layer (it starts with a letter; a dense layer starts with its width)."""
    return bool(token) and token[0].isalpha()


def parse_token(token: str):
    """``conv8k3p1:relu`` -> ``Conv2d(8, 3, padding=1, activation="relu")``; one line naming the token otherwise."""
    head, *options = [p.strip() for p in token.split(":")]
    conv, pool = _CONV.match(head), _POOL.match(head)
    if conv:
        out, k, s, p = conv.groups()
        bias = "nobias" not in options
        acts = [o for o in options if o != "nobias"]
        if len(acts) > 1:
            raise SpecError(f"{token!r}: expected convOUTkK[sS][pP][:ACTIVATION][:nobias]")
        return Conv2d(int(out), int(k), int(s or 1), int(p or 0), acts[0] if acts else None, bias)
    if options:
        raise SpecError(f"{token!r}: {head} takes no options")
    if pool:
        kind, k, s = pool.groups()
        return (MaxPool2d if kind == "max" else AvgPool2d)(int(k), int(s) if s else None)
    if head == "gap":
        return GlobalAvgPool2d()
    if head == "flatten":
        return Flatten()
    word = re.match(r"[a-z]*", head).group()
    raise SpecError(f"unknown image layer {head!r}{did_you_mean(word, KINDS)} (choose convOUTkK[sS][pP], "
                    "maxpoolK[sS], avgpoolK[sS], gap or flatten)")


def parse_input(token: str) -> tuple[int, int, int]:
    """``1x8x8`` -> (1, 8, 8): channels, height, width."""
    parts = token.strip().lower().replace("×", "x").split("x")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise SpecError(f"an image input is CxHxW, e.g. 1x8x8, not {token!r}")
    shape = tuple(int(p) for p in parts)
    if not all(1 <= n <= MAX_SIZE for n in shape):
        raise SpecError(f"image sizes must be from 1 to {MAX_SIZE}, not {token!r}")
    return shape
