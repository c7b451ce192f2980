"""Backends: printers and emitters of a Program, each registered by name; compiled gradients."""

from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np

from ..registry import BACKENDS
from . import loader, numba_code, numpy_code

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
        ps = [np.array(params[k], dtype=np.float64) for k in self.shapes]
        gs = [np.zeros(s) for s in self.shapes.values()]
        m = X.shape[1]
        total = self.module.grad_sum(*ps, np.ascontiguousarray(X, np.float64),
                                     np.ascontiguousarray(Y, np.float64), *gs)
        return total / m, {k: g / m for k, g in zip(self.shapes, gs)}

    def __repr__(self) -> str:
        return f"<compiled gradients of {self.network.spec} ({self.backend})>"


@lru_cache(maxsize=256)
def _program(network):
    from ..derive.sweep import sweep

    return sweep(network)


def program_of(derivation_or_network):
    """The Program of a derivation, or of a network (swept once per network in this process)."""
    program = getattr(derivation_or_network, "program", None)
    return program if program is not None else _program(derivation_or_network)


@lru_cache(maxsize=256)
def _sources(network, target: str) -> tuple[str, ...]:
    """The generated sources of a network (generated once per process)."""
    program = program_of(network)
    if target == "numpy":
        return (numpy_code.module_source(program),)
    return numba_code.module_source(program), numba_code.module_source(program, cache=False)


def numpy_module(derivation_or_network):
    """The NumPy batch module of a derivation or a network."""
    network = getattr(derivation_or_network, "network", derivation_or_network)
    return loader.from_source(*_sources(network, "numpy"))


def per_sample_module(derivation_or_network):
    """The numba per-sample module: from memory, else the verified disk cache, else written and compiled."""
    network = getattr(derivation_or_network, "network", derivation_or_network)
    module = loader.on_disk(*_sources(network, "numba"))
    if not module.NUMBA and not _WARNED:
        _WARNED.append(True)
        print("symbackprop: numba is not available; per-sample code runs as plain Python (slow)",
              file=sys.stderr)
    return module


class NumpyBackend:
    name = "numpy"

    @staticmethod
    def compile(derivation, dtype="float64"):
        return CompiledGradients(derivation.network, numpy_module(derivation), "numpy", dtype)


class NumbaBackend:
    name = "numba"

    @staticmethod
    def compile(derivation, dtype="float64"):
        return CompiledGradients(derivation.network, per_sample_module(derivation), "numba")


BACKENDS.register("numpy", NumpyBackend)
BACKENDS.register("numba", NumbaBackend)
