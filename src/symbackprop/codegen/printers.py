"""Thin per-target printers: each changes only how a target spells what differs from Python."""

from __future__ import annotations

import re

from sympy.printing.c import C99CodePrinter
from sympy.printing.jscode import JavascriptCodePrinter
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

_ENTRY = re.compile(r"^(W\d+|B\d+)((?:_\d+)*)$")


def _param_index(name: str, shapes: dict) -> tuple[str, int, int] | None:
    """``W1_0_2`` -> ``("W1", 0, 2)``; ``B2`` of shape (1, 1) -> ``("B2", 0, 0)``; else ``None``."""
    m = _ENTRY.match(name)
    if not m or m.group(1) not in shapes:
        return None
    idx = [int(v) for v in m.group(2).strip("_").split("_")] if m.group(2) else [0, 0]
    return m.group(1), idx[0], idx[1] if len(idx) > 1 else 0


class _StableNodes:
    """What every target prints its own way: the step function (H(0) = 0) and the stable helpers."""

    step = "({} > 0)"
    logistic = "_logistic({})"
    softplus = "_softplus({})"

    def _print_Heaviside(self, expr):
        return self.step.format(self._print(expr.args[0]))

    def _print_logistic(self, expr):
        return self.logistic.format(self._print(expr.args[0]))

    def _print_softplus(self, expr):
        return self.softplus.format(self._print(expr.args[0]))


class ScalarPython(_StableNodes, PythonCodePrinter):
    """Scalar Python (what numba compiles): ``W1_0_2`` reads ``W1[0, 2]``; H(z) is ``(z > 0)``."""

    def __init__(self, shapes: dict | None = None, **kw):
        super().__init__({"fully_qualified_modules": True, **kw})
        self.shapes = shapes or {}

    def _print_Symbol(self, expr):
        hit = _param_index(expr.name, self.shapes)
        return self.param(*hit) if hit else expr.name

    step = "({} > 0.0)"

    def param(self, name, i, j):
        return f"{name}[{i}, {j}]"


class ArrayNumPy(_StableNodes, NumPyPrinter):
    """NumPy over whole arrays (samples as columns): ``Max`` is ``np.maximum``, H(z) is ``(z > 0)``."""

    def __init__(self, **kw):
        super().__init__({"fully_qualified_modules": False, **kw})
        self._module = "np"

    def _module_format(self, fqn, register=True):
        return "np." + fqn.split(".")[-1] if fqn.startswith(("numpy.", "math.")) else fqn

    def _print_Max(self, expr):
        args = [self._print(a) for a in expr.args]
        out = args[0]
        for arg in args[1:]:
            out = f"np.maximum({out}, {arg})"
        return out

    softplus = "np.logaddexp(0.0, {})"


class C99(_StableNodes, C99CodePrinter):
    """C99 with static parameter arrays: ``W1_0_2`` is ``p->W1[0][2]``, H(z) is ``(z > 0)``."""

    def __init__(self, shapes: dict | None = None, prefix: str = "p->", ctype: str = "double", **kw):
        super().__init__(kw)
        self.shapes, self.prefix, self.ctype = shapes or {}, prefix, ctype

    def _print_Symbol(self, expr):
        hit = _param_index(expr.name, self.shapes)
        if hit:
            return f"{self.prefix}{hit[0]}[{hit[1]}][{hit[2]}]"
        return expr.name

    logistic = "sbp_logistic({})"
    softplus = "sbp_softplus({})"


class JavaScript(_StableNodes, JavascriptCodePrinter):
    """JavaScript: parameters read ``W1[0][2]``; H(z) is ``(z > 0 ? 1 : 0)``."""

    def __init__(self, shapes: dict | None = None, **kw):
        super().__init__(kw)
        self.shapes = shapes or {}

    def _print_Symbol(self, expr):
        hit = _param_index(expr.name, self.shapes)
        return f"{hit[0]}[{hit[1]}][{hit[2]}]" if hit else expr.name

    step = "({} > 0 ? 1 : 0)"
    logistic = "sbpLogistic({})"
    softplus = "sbpSoftplus({})"
