"""What every per-sample numba module shares: its helpers, the loop bookkeeping, and the lines that apply or add up
each parameter's gradient."""

from __future__ import annotations

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..program import Program
from .loops import Syntax
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



# The bookkeeping of every generated loop: stop at a non-finite cost, add it up, record a point every ``every``.
TALLY = """        if not math.isfinite(cost) and not accumulate:
            return step, total
        window += cost
        total += cost"""
COUNTDOWN = """        left -= 1
        if left == 0:  # a countdown, not a modulo: no division in the loop
            losses[(step + 1) // every - 1] = window / every
            window = 0.0
            left = every
    return -1, total"""


_LR, _G, _P = (sp.Symbol(n, real=True) for n in ("lr", "g", "p"))


def gkey(param):
    """The accumulator of a parameter's gradient in ``grad_sum`` (``g_W1``)."""
    return naming.Key(f"g_{param.key.base}", param.key.layer)


def apply_and_add(program: Program, kernels) -> tuple[list, list]:
    """The lines that apply each layer's gradients (``W1 -= lr * dC_dW1``) and that add them up (``g_W1 +=``)."""
    grads = [program.gradient(p) for p in program.params]
    apply, add = [], []
    for layer in dict.fromkeys(p.key.layer for p in program.params):
        ps = [(p, g) for p, g in zip(program.params, grads) if p.key.layer == layer]
        step = mx.ScalarFn("step", _P - _LR * _G, (_P, _G))
        apply += kernels.call([(p.key, mx.fn(step, mx.ref(p.key, p.shape), mx.ref(g.key, g.shape)), p.shape,
                                f"{p.name} -= lr * {g.lhs}") for p, g in ps])
        add += kernels.call([(gkey(p), mx.add(mx.ref(gkey(p), p.shape), mx.ref(g.key, g.shape)), p.shape,
                              f"g_{p.name} += {g.lhs}") for p, g in ps])
    return apply, add
