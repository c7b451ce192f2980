"""Layers: each kind one small class owning its parameters, forward definition and backward rule."""

from ..registry import LAYERS
from .base import Layer, Site
from .dense import Linear
from .elementwise import Elementwise
from .softmax import Softmax

for _kind in (Linear, Elementwise, Softmax):
    LAYERS.register(_kind.kind, _kind)

__all__ = ["Elementwise", "Layer", "Linear", "Site", "Softmax"]
