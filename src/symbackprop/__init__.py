"""symbackprop: derive, show, prove and use the backpropagation of a feed-forward network."""

__version__ = "0.1.0"

# The printers and backends register themselves by name when imported; the public API follows.
from . import backends, render  # noqa: E402,F401
from .activations import ACTIVATIONS, Activation, get_activation  # noqa: E402
from .blocks import LayerNorm, Residual  # noqa: E402
from .check import Report, check_backprop, gradcheck  # noqa: E402
from .costs import COSTS, Cost, get_cost  # noqa: E402
from .datasets import load_dataset  # noqa: E402
from .dense_spec import Dense  # noqa: E402
from .derive import Derivation, derive  # noqa: E402
from .errors import SymbackpropError  # noqa: E402
from .formulas import define  # noqa: E402
from .grammar import parse_spec  # noqa: E402
from .images import AvgPool2d, Conv2d, Flatten, GlobalAvgPool2d, MaxPool2d  # noqa: E402
from .layers import Elementwise, Layer  # noqa: E402
from .model import Model, load  # noqa: E402
from .sequences import LSTM, RNN, Embedding, LSTMCell, PositionalEmbedding, SelfAttention  # noqa: E402
from .spec import Network  # noqa: E402
from .train import train  # noqa: E402

__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "Activation",
    "AvgPool2d",
    "Conv2d",
    "Cost",
    "Dense",
    "Derivation",
    "Elementwise",
    "Embedding",
    "Flatten",
    "GlobalAvgPool2d",
    "LSTM",
    "LSTMCell",
    "Layer",
    "LayerNorm",
    "MaxPool2d",
    "Model",
    "Network",
    "PositionalEmbedding",
    "RNN",
    "Report",
    "Residual",
    "SelfAttention",
    "SymbackpropError",
    "__version__",
    "check_backprop",
    "define",
    "derive",
    "get_activation",
    "get_cost",
    "gradcheck",
    "load",
    "load_dataset",
    "parse_spec",
    "train",
]
