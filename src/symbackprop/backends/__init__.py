"""Backends: printers and emitters of a Program, each registered by name; compiled gradients."""

from __future__ import annotations

import contextlib
import importlib
import sys
from functools import lru_cache

import numpy as np

from ..errors import SymbackpropError
from ..registry import BACKENDS
from . import jax_code, loader, numba_code, numpy_code, rows, shares, torch_code, updates
from .dialects import NUMPY, TORCH

_WARNED: list[bool] = []


class CompiledGradients:
    """``f(params, X, Y) -> (cost, grads)``: params ``{"W1": (n1, n0), ...}``, X (n_inputs, m), Y (n_outputs, m).

    ``cost`` is the mean over the m samples; ``grads`` has the keys and shapes of ``params``.  A network with
    dropout takes each layer's mask in ``params`` too (``"M2"``: (n2, m) of 0 and 1).  A sequence network takes
    token ids X (T, m) and one-hot targets Y (n_outputs, T, m); its cost is the mean over the m·T positions (as
    ``F.cross_entropy`` of (m·T, n_outputs) logits).
    ``.source`` is the generated module; tracebacks point into it.
    """

    def __init__(self, network, module, backend: str, dtype="float64"):
        self.network, self.module, self.backend = network, module, backend
        self.dtype = np.dtype(dtype)
        self.shapes = network.shapes()
        self.masks = [str(k) for k, _ in network.masks]

    def _inputs(self, params) -> list[str]:
        """The names the generated code reads from ``params``: the parameters, then the dropout masks."""
        missing = [k for k in self.masks if k not in params]
        if missing:
            raise SymbackpropError(f"{self.network.spec} has dropout: pass its masks in params as "
                                   f"{', '.join(missing)} ((width, m) arrays of 0 and 1)")
        return [*self.shapes, *self.masks]

    @property
    def source(self) -> str:
        return self.module.__source__

    def _columns(self, X, Y):
        """X and Y as arrays of the dtype; a sequence network's checked: ids (T, m), targets (n_outputs, T, m)."""
        X, Y = np.asarray(X, dtype=self.dtype), np.asarray(Y, dtype=self.dtype)
        T = self.network.positions
        if T and (X.ndim != 2 or X.shape[0] != T or Y.ndim != 3 or Y.shape[:2] != (self.network.outputs, T)):
            raise SymbackpropError(f"{self.network.spec} takes token ids X ({T}, m) and targets Y "
                                   f"({self.network.outputs}, {T}, m), not {X.shape} and {Y.shape}")
        return X, Y

    def __call__(self, params, X, Y):
        X, Y = self._columns(X, Y)
        if self.backend == "numpy":
            ps = {k: np.asarray(params[k], dtype=self.dtype) for k in self._inputs(params)}
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
def upstream_program(network):
    """The Program of the network's vector-Jacobian product: an upstream gradient G as the target, ``dC_dX``
    included (what a framework's backward computes).  Its output is the logits where the network's output is
    logistic or softmax (what a framework's ``forward`` returns, for its own cross-entropy)."""
    from ..costs import UPSTREAM
    from ..derive.sweep import sweep

    layer = network.eval().logits()  # a layer as it predicts: no dropout
    return sweep(layer.with_cost(UPSTREAM), input_grad=True)


@lru_cache(maxsize=256)
def _sources(network, target: str) -> tuple[str, ...]:
    """The generated sources of a network (generated once per process)."""
    program = program_of(network)
    if target == "numpy":
        return (numpy_code.module_source(program),)
    if target == "jax":
        return (jax_code.module_source(program, upstream_program(network)),)
    if target == "torch":
        return (torch_code.module_source(program, upstream_program(network), network),)
    return numba_code.module_source(program), numba_code.module_source(program, cache=False)


def export_source(network, to: str, optimizer=None) -> str:
    """What ``export --to numpy|jax|torch`` writes: the module with its functions over columns named
    ``columns_forward``, ... and, under the plain names, the same over rows, as each framework's users call them;
    with an ``optimizer``, its step too (``optimizer_step``, ``init_state``)."""
    program = program_of(network)
    if to == "numpy":
        source = numpy_code.module_source(program, prefix="columns_")
    elif to == "jax":
        source = jax_code.module_source(program, upstream_program(network), prefix="columns_")
    else:
        source = torch_code.module_source(program, upstream_program(network), network, prefix="columns_")
    if optimizer is not None:
        source += (updates.functional_source(program, optimizer, "columns_") if to == "jax" else
                   updates.in_place_source(program, optimizer, TORCH if to == "torch" else NUMPY, "columns_"))
    return source + rows.face(network, program, to, optimizer)


EXTRAS = {"jax": "jax", "torch": "torch"}


def require(framework: str):
    """Import ``jax`` or ``torch``, or one line naming the extra that brings it."""
    try:
        return importlib.import_module(framework)
    except ImportError:
        raise SymbackpropError(f"the {framework} backend needs {framework}: pip install "
                               f"'symbackprop[{EXTRAS[framework]}]'") from None


def framework_module(derivation_or_network, framework: str):
    """The generated JAX or PyTorch module of a derivation or a network."""
    require(framework)
    network = getattr(derivation_or_network, "network", derivation_or_network)
    return loader.from_source(*_sources(network, framework))


def x64(enabled: bool):
    """A context in which JAX computes in float64 (its default is float32), or nothing."""
    if not enabled:
        return contextlib.nullcontext()
    import jax

    switch = getattr(jax, "enable_x64", None)
    if switch is None:  # JAX before 0.6
        from jax.experimental import enable_x64 as switch
    return switch(True)


def numpy_module(derivation_or_network):
    """The NumPy batch module of a derivation or a network."""
    network = getattr(derivation_or_network, "network", derivation_or_network)
    return loader.from_source(*_sources(network, "numpy"))


def numpy_steps(network, batch: int, threads: int | None = None):
    """What trains a network on the NumPy backend with plain SGD: the generated module, whose ``sgd_step`` runs a
    batch of ``batch`` samples; where the batch is large, a stepper that splits it over the cores
    (:mod:`.shares`; ``threads`` to choose how many, 1 for none)."""
    module = numpy_module(network)
    n = shares.threads_for(network, program_of(network), batch, threads)
    return shares.SplitSteps(module, n) if n > 1 else module


@lru_cache(maxsize=64)
def optimizer_module(network, optimizer, framework: str = "numpy", flat: bool = False, kernel: bool = False):
    """The generated module of a network (NumPy, JAX or PyTorch) with ``optimizer_step``: the forward pass, the
    derived gradients and the optimizer's update in one generated function; ``flat`` (NumPy, PyTorch): the update
    over flat buffers (``updates.flat_state``); ``kernel`` (with ``flat``, arrays in CPU memory): the update as
    one call of the rule compiled by numba (``update_kernel``), where numba is installed."""
    program = program_of(network)
    fused = update_kernel(optimizer) if kernel and flat and framework != "jax" else None
    if framework == "jax":
        require("jax")
        source = _sources(network, "jax")[0] + updates.functional_source(program, optimizer)
    else:
        dialect = TORCH if framework == "torch" else NUMPY
        if framework == "torch":
            require("torch")
        source = _sources(network, framework)[0] + updates.in_place_source(program, optimizer, dialect, flat=flat,
                                                                            kernel=fused is not None)
    module = loader.from_source(source)
    if fused is not None:
        module._update = fused
    return module


def update_kernel(optimizer):
    """The optimizer's rule entry by entry over flat buffers, compiled by numba (``updates.kernel_source``; one
    module an optimizer, whatever its hyperparameters: they are read at run time), from the verified disk cache;
    None without numba."""
    module = loader.on_disk(updates.kernel_source(optimizer), updates.kernel_source(optimizer, cache=False))
    return module._update if module.NUMBA else None


def per_sample_module(derivation_or_network, optimizer=None):
    """The numba per-sample module: from memory, else the verified disk cache, else written and compiled; with an
    ``optimizer`` (not plain SGD), its per-sample steps (``optimize``) instead of ``sgd``."""
    network = getattr(derivation_or_network, "network", derivation_or_network)
    if network.has_images:
        raise SymbackpropError(f"{network.spec} has {network.tensor_layers}: it trains mini-batches on the numpy, "
                               "jax or torch backend (give --batch-size); the per-sample numba loop knows matrices "
                               "only")
    if optimizer is not None:
        program = program_of(network)
        sources = (numba_code.module_source(program, optimizer=optimizer),
                   numba_code.module_source(program, cache=False, optimizer=optimizer))
    module = loader.on_disk(*(_sources(network, "numba") if optimizer is None else sources))
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
        if derivation.network.masks or derivation.network.batch_coupled:
            what = "dropout, which the per-sample numba code does not draw" if derivation.network.masks else \
                "batchnorm, whose statistics are over a batch, not one sample"
            raise SymbackpropError(f"{derivation.network.spec} has {what}: use the numpy, jax or torch backend")
        return CompiledGradients(derivation.network, per_sample_module(derivation), "numba")


class JaxGradients(CompiledGradients):
    """The derived gradients as one jitted JAX function; returns JAX arrays (``np.asarray`` makes them NumPy)."""

    def __init__(self, network, module, dtype="float64"):
        import jax

        super().__init__(network, module, "jax", dtype)
        self._f = jax.jit(module.loss_and_grads)

    def __call__(self, params, X, Y):
        import jax.numpy as jnp

        X, Y = self._columns(X, Y)
        with x64(self.dtype == np.float64):
            ps = {k: jnp.asarray(params[k], dtype=self.dtype) for k in self._inputs(params)}
            return self._f(ps, jnp.asarray(X, dtype=self.dtype), jnp.asarray(Y, dtype=self.dtype))


class TorchGradients(CompiledGradients):
    """The derived gradients over PyTorch tensors (on ``device``, CUDA when present); returns tensors."""

    def __init__(self, network, module, dtype="float64", device=None):
        import torch

        super().__init__(network, module, "torch", dtype)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self._dtype = getattr(torch, self.dtype.name)

    def __call__(self, params, X, Y):
        import torch

        def tensor(v):
            return torch.as_tensor(v, dtype=self._dtype, device=self.device)

        X, Y = self._columns(X, Y)
        ps = {k: tensor(params[k]) for k in self._inputs(params)}
        return self.module.gradients(ps, tensor(X), tensor(Y))


class JaxBackend:
    name = "jax"

    @staticmethod
    def compile(derivation, dtype="float64"):
        return JaxGradients(derivation.network, framework_module(derivation, "jax"), dtype)


class TorchBackend:
    name = "torch"

    @staticmethod
    def compile(derivation, dtype="float64"):
        return TorchGradients(derivation.network, framework_module(derivation, "torch"), dtype)


BACKENDS.register("numpy", NumpyBackend)
BACKENDS.register("jax", JaxBackend)
BACKENDS.register("torch", TorchBackend, aliases=("pytorch",))
BACKENDS.register("numba", NumbaBackend)
