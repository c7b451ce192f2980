"""The per-sample printer of a Program for numba: loops over each layer's dimensions, one compiled loop."""

from __future__ import annotations

import sympy as sp

from .. import __version__, naming
from .. import matexpr as mx
from ..program import Program
from .loops import LoopWriter, Syntax, comment
from .printers import ScalarPython

HELPERS = '''
try:
    from numba import njit
    _jit = njit(cache=CACHE, nogil=True)
    NUMBA = True
except ImportError:  # fall back to plain Python; symbackprop says so once
    def _jit(func):
        return func
    NUMBA = False


@_jit
def _logistic(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@_jit
def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))
'''


class PythonLoops(Syntax):
    printer = ScalarPython()

    def loop(self, var, n):
        return f"for {var} in range({n}):", None

    def local(self, name, init):
        return f"{name} = {init}"

    def assign(self, target, code, op="="):
        return f"{target} {op} {code}"

    def number(self, v):
        return "-math.inf" if v == float("-inf") else repr(float(v))


FUSE_LIMIT = 40  # steps; up to this many the loops are written in one function (measured: see the README)


class Kernels:
    """One small compiled function per distinct loop nest: every layer of the same kind and size shares
    one, so compile time grows with the kinds of steps, not with depth."""

    def __init__(self, program: Program):
        self.program, self.sources, self.names = program, [], {}

    def call(self, target, expr, shape, extra=(), what: str = "") -> str:
        """The kernel computing ``target`` from ``expr`` (defining it if new) and the line that calls it."""
        program = self.program
        keys = [k for k in mx.refs(expr) if k not in extra]
        slot = {k: f"a{n}" for n, k in enumerate(keys)}
        per_sample = {program.input.key, program.target.key}

        def access(key, i, j):
            return f"{slot[key]}[{i}, s]" if key in per_sample else f"{slot[key]}[{i}, {j}]"

        shapes = {**program.shapes, target: shape}
        writer = LoopWriter(PythonLoops(), access, shapes)
        lines = writer.step(target, expr, shape, into=lambda i, j: f"out[{i}, {j}]")
        params = ", ".join(["out", *slot.values(), "s", *extra])
        body = "\n".join("    " + line for line in lines)
        text = f"def {{name}}({params}):\n{body}\n"
        if text not in self.names:
            self.names[text] = f"_k{len(self.names)}"
            note = f"# first for {what}\n" if what else ""
            self.sources.append(note + "@_jit\n" + text.format(name=self.names[text]))
        args = [_array_name(program, k) for k in keys]
        return [f"{self.names[text]}({', '.join([str(target), *args, 's', *extra])})"]


class Inline:
    """Every loop nest written out in ``run`` itself: for small networks, where one function compiles
    quickly and runs fastest (measured in benchmarks/bench_train.py)."""

    sources: list = []

    def __init__(self, program: Program):
        per_sample = {program.input.key: "Xs", program.target.key: "Ys"}

        def access(key, i, j):
            return f"{per_sample[key]}[{i}, s]" if key in per_sample else f"{key}[{i}, {j}]"

        self.shapes = dict(program.shapes)
        self.writer = LoopWriter(PythonLoops(), access, self.shapes)

    def call(self, target, expr, shape, extra=(), what: str = "") -> list[str]:
        self.shapes[target] = shape
        return self.writer.step(target, expr, shape)


def _array_name(program, key) -> str:
    return {program.input.key: "Xs", program.target.key: "Ys"}.get(key, str(key))


def module_source(program: Program, cache: bool = True) -> str:
    """A module with ``run``: per-sample SGD over ``order`` (or, with ``accumulate``, the gradients summed
    into ``g_*``), and the wrappers ``sgd`` and ``grad_sum``."""
    params = [p.name for p in program.params]
    pkeys = program.param_keys
    grads = [program.gradient(p) for p in program.params]
    steps = program.needed([program.cost] + [g.key for g in grads])
    kernels = Inline(program) if len(steps) <= FUSE_LIMIT else Kernels(program)
    work = [s for s in steps if s.key not in pkeys]
    ind = " " * 8
    body = []
    for s in steps:
        body.append(f"# {comment(s)}")
        body += kernels.call(s.key, s.expr, s.shape, what=comment(s))
    alloc = "\n".join(f"    {s.lhs} = np.empty({s.shape!r})" for s in work)
    apply, add = [], []
    for p, g in zip(program.params, grads):
        scaled = mx.fn(mx.ScalarFn("step", _P - _LR * _G, (_P, _G)), mx.ref(p.key, p.shape), mx.ref(g.key, g.shape))
        apply += kernels.call(p.key, scaled, p.shape, extra=("lr",), what=f"{p.name} -= lr * {g.lhs}")
        total = mx.add(mx.ref(_gkey(p), p.shape), mx.ref(g.key, g.shape))
        add += kernels.call(_gkey(p), total, p.shape, what=f"g_{p.name} += {g.lhs}")
    args = ", ".join(params)
    gargs = ", ".join(f"g_{q}" for q in params)
    text = "\n".join(ind + line for line in body)
    upd = "\n".join(ind + "    " + line for line in apply)
    acc = "\n".join(ind + "    " + line for line in add)
    kernel_text = "\n\n".join(kernels.sources)
    return f'''"""Per-sample gradients and the SGD loop for {program.spec} with cost {program.cost_name}, generated by
symbackprop {__version__} from its derivation: loops over each layer's dimensions. Do not edit."""

import math

import numpy as np

CACHE = {cache!r}
{HELPERS}
SPEC = {program.spec!r}
COST = {program.cost_name!r}
PARAMS = {tuple(params)!r}


{kernel_text}

@_jit
def run({args}, Xs, Ys, order, lr, every, losses, {gargs}, accumulate):
    """Per-sample SGD over the samples in ``order`` (in place), the mean cost of each ``every`` steps
    going to ``losses``; with ``accumulate`` the parameters stay and each gradient is added into g_*.
    Returns (-1 or the step at which the cost stopped being finite, the summed cost)."""
{alloc}
    window = 0.0
    total = 0.0
    for step in range(order.shape[0]):
        s = order[step]
{text}
        cost = C[0, 0]
        if not math.isfinite(cost) and not accumulate:
            return step, total
        window += cost
        total += cost
        if accumulate:
{acc}
        else:
{upd}
        if (step + 1) % every == 0:
            losses[(step + 1) // every - 1] = window / every
            window = 0.0
    return -1, total


def sgd({args}, Xs, Ys, order, lr, every, losses):
    """Per-sample SGD in place; returns -1, or the step at which the cost stopped being finite."""
    gs = [np.empty((0, 0)) for _ in PARAMS]
    return run({args}, Xs, Ys, order, lr, every, losses, *gs, False)[0]


def grad_sum({args}, Xs, Ys, {gargs}):
    """Add each sample's gradient into g_*; return the summed cost (samples are columns)."""
    order = np.arange(Xs.shape[1])
    return run({args}, Xs, Ys, order, 0.0, order.shape[0] + 1, np.zeros(1), {gargs}, True)[1]
'''


_LR, _G, _P = (sp.Symbol(n, real=True) for n in ("lr", "g", "p"))


def _gkey(param):
    """The accumulator of a parameter's gradient in ``grad_sum`` (``g_W1``)."""
    return naming.Key(f"g_{param.key.base}", param.key.layer)
