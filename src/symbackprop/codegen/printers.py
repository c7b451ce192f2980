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


class ScalarPython(PythonCodePrinter):
    """Scalar Python (what numba compiles): ``W1_0_2`` reads ``W1[0, 2]``; H(z) is ``(z > 0)``."""

    def __init__(self, shapes: dict | None = None, **kw):
        super().__init__({"fully_qualified_modules": True, **kw})
        self.shapes = shapes or {}

    def _print_Symbol(self, expr):
        hit = _param_index(expr.name, self.shapes)
        return self.param(*hit) if hit else expr.name

    def param(self, name, i, j):
        return f"{name}[{i}, {j}]"

    def _print_Heaviside(self, expr):
        return f"({self._print(expr.args[0])} > 0.0)"

    def _print_logistic(self, expr):
        return f"_logistic({self._print(expr.args[0])})"

    def _print_softplus(self, expr):
        return f"_softplus({self._print(expr.args[0])})"


class ArrayNumPy(NumPyPrinter):
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

    def _print_Heaviside(self, expr):
        return f"({self._print(expr.args[0])} > 0)"

    def _print_logistic(self, expr):
        return f"_logistic({self._print(expr.args[0])})"

    def _print_softplus(self, expr):
        return f"np.logaddexp(0.0, {self._print(expr.args[0])})"


class C99(C99CodePrinter):
    """C99 with static parameter arrays: ``W1_0_2`` is ``p->W1[0][2]``, H(z) is ``(z > 0)``."""

    def __init__(self, shapes: dict | None = None, prefix: str = "p->", ctype: str = "double", **kw):
        super().__init__(kw)
        self.shapes, self.prefix, self.ctype = shapes or {}, prefix, ctype

    def _print_Symbol(self, expr):
        hit = _param_index(expr.name, self.shapes)
        if hit:
            return f"{self.prefix}{hit[0]}[{hit[1]}][{hit[2]}]"
        return expr.name

    def _print_Heaviside(self, expr):
        return f"({self._print(expr.args[0])} > 0)"

    def _print_logistic(self, expr):
        return f"sbp_logistic({self._print(expr.args[0])})"

    def _print_softplus(self, expr):
        return f"sbp_softplus({self._print(expr.args[0])})"


class JavaScript(JavascriptCodePrinter):
    """JavaScript: parameters read ``W1[0][2]``; H(z) is ``(z > 0 ? 1 : 0)``."""

    def __init__(self, shapes: dict | None = None, **kw):
        super().__init__(kw)
        self.shapes = shapes or {}

    def _print_Symbol(self, expr):
        hit = _param_index(expr.name, self.shapes)
        return f"{hit[0]}[{hit[1]}][{hit[2]}]" if hit else expr.name

    def _print_Heaviside(self, expr):
        return f"({self._print(expr.args[0])} > 0 ? 1 : 0)"

    def _print_logistic(self, expr):
        return f"sbpLogistic({self._print(expr.args[0])})"

    def _print_softplus(self, expr):
        return f"sbpSoftplus({self._print(expr.args[0])})"
