"""Compiling a derivation into callables: ``f(params, X, Y) -> (cost, grads)`` and the SGD loop."""

from __future__ import annotations

import sys

import numpy as np

from . import loader
from .program import scalar_program
from .python import numpy_module_source, scalar_module_source

GENERATOR = "9"  # bump when generated code changes, so disk caches are not reused
_WARNED: list[bool] = []


class CompiledGradients:
    """``f(params, X, Y) -> (cost, grads)``: params ``{"W1": (n1, n0), ...}``, X (n_inputs, m), Y (n_outputs, m).

    ``cost`` is the mean over the m samples; ``grads`` has the keys and shapes of ``params``.
    ``.source`` is the generated module; tracebacks point into it.
    """

    def __init__(self, network, module, backend: str, dtype="float64"):
        self.network, self.module, self.backend = network, module, backend
        self.dtype = np.dtype(dtype)
        self.shapes = network.shapes()

    @property
    def source(self) -> str:
        return self.module.__source__

    def __call__(self, params, X, Y):
        X = np.asarray(X, dtype=self.dtype)
        Y = np.asarray(Y, dtype=self.dtype)
        if self.backend == "numpy":
            ps = {k: np.asarray(params[k], dtype=self.dtype) for k in self.shapes}
            return self.module.gradients(ps, X, Y)
        ps = [np.ascontiguousarray(params[k], dtype=np.float64) for k in self.shapes]
        gs = [np.zeros(s) for s in self.shapes.values()]
        m = X.shape[1]
        total = self.module.grad_sum(*ps, np.ascontiguousarray(X, np.float64),
                                     np.ascontiguousarray(Y, np.float64), *gs)
        return total / m, {k: g / m for k, g in zip(self.shapes, gs)}

    def __repr__(self) -> str:
        return f"<compiled gradients of {self.network.spec} ({self.backend})>"


def numpy_module(derivation_or_network):
    """The NumPy batch module of a derivation (or a network, derived only when not generated yet)."""
    from ..derive import Derivation

    net = getattr(derivation_or_network, "network", derivation_or_network)
    name = "symbackprop_generated_numpy_" + loader.key(net.spec, net.cost.name, "numpy", GENERATOR)
    module = loader.cached(name)
    if module is None:
        d = derivation_or_network if isinstance(derivation_or_network, Derivation) else Derivation(net)
        module = loader.from_source(numpy_module_source(d), name)
    return module


def per_sample_module(network):
    """The numba per-sample module: from memory, else the disk cache, else derived and compiled."""
    key = loader.key(network.spec, network.cost.name, "scalar", GENERATOR)
    module = loader.cached_on_disk(key)
    if module is None:
        module = loader.to_disk(scalar_module_source(scalar_program(network)), key)
    if not module.NUMBA and not _WARNED:
        _WARNED.append(True)
        print("symbackprop: numba is not available; per-sample code runs as plain Python (slow)",
              file=sys.stderr)
    return module


def compile_gradients(derivation, backend: str = "numpy", dtype="float64") -> CompiledGradients:
    """Generate and load the gradient code of ``derivation`` for ``backend`` ("numpy" or "numba")."""
    if backend == "numpy":
        return CompiledGradients(derivation.network, numpy_module(derivation), "numpy", dtype)
    if backend == "numba":
        return CompiledGradients(derivation.network, per_sample_module(derivation.network), "numba")
    raise ValueError(f"unknown backend '{backend}' (choose numpy or numba)")


