"""Layers: each kind one small class owning its parameters, forward definition and backward rule."""

from .base import Layer, Site
from .dense import Linear
from .elementwise import Elementwise
from .softmax import Softmax

__all__ = ["Elementwise", "Layer", "Linear", "Site", "Softmax"]
