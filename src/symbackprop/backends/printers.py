"""Thin per-target SymPy printers: each changes only how a target spells what differs from Python.

Symbols print as their names; the loop printers name entry symbols by the array access they stand
for (``Z1[i, 0]``), so no printer ever reads a name back.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.c import C99CodePrinter
from sympy.printing.jscode import JavascriptCodePrinter
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter


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
    """Scalar Python (what numba compiles): ``math.exp``; H(z) is ``(z > 0.0)``."""

    step = "({} > 0.0)"

    def __init__(self, **kw):
        super().__init__({"fully_qualified_modules": True, **kw})


class ArrayNumPy(_StableNodes, NumPyPrinter):
    """NumPy over whole arrays (samples as columns): ``Max`` is ``np.maximum``, H(z) is ``(z > 0)``.

    Array libraries that spell things as NumPy does subclass it and change ``prefix`` (the module's name in the
    generated code) and the templates."""

    prefix = "np"
    softplus = "np.logaddexp(0.0, {})"
    erf = "_erf({})"  # NumPy has none: the module defines _erf from math.erf when it uses it

    def __init__(self, **kw):
        super().__init__({"fully_qualified_modules": False, **kw})
        self._module = self.prefix

    def _print_erf(self, expr):
        return self.erf.format(self._print(expr.args[0]))

    def _print_Pow(self, expr, rational=False):
        """A cube or fourth power of a named array as products, ``(Z*Z*Z)``: ``Z**3`` runs the general power
        function, measured 10-20 times the cost of the products (GELU's tanh form has a cube); ``**2`` has NumPy's
        own fast path, and a power of an expression keeps ``**`` (products would compute it again)."""
        base, exp = expr.args
        if exp.is_Integer and 3 <= int(exp) <= 4 and base.is_Symbol:
            factor = self.parenthesize(base, PRECEDENCE["Mul"])
            return "(" + "*".join([factor] * int(exp)) + ")"
        return super()._print_Pow(expr, rational=rational)

    def _as_ordered_terms(self, expr, order=None):
        """A sum's terms with a positive one first: ``Z2 - M2``, not ``-M2 + Z2`` (which negates an array more)."""
        terms = list(super()._as_ordered_terms(expr, order=order))
        first = next((k for k, term in enumerate(terms) if not term.could_extract_minus_sign()), 0)
        return [terms[first], *terms[:first], *terms[first + 1:]]

    def _module_format(self, fqn, register=True):
        return f"{self.prefix}." + fqn.split(".")[-1] if fqn.startswith(("numpy.", "math.")) else fqn

    def _fold(self, func: str, expr) -> str:
        """``np.maximum(np.maximum(a, b), c)`` for ``Max(a, b, c)``; arrays first and numbers as floats
        (``np.maximum(Z1, 0.0)``: NumPy's fastest loop, no int-to-float promotion)."""
        ordered = sorted(expr.args, key=lambda a: a.is_number)
        args = [self._print(sp.Float(a) if a.is_Integer else a) for a in ordered]
        out = args[0]
        for arg in args[1:]:
            out = f"{self.prefix}.{func}({out}, {arg})"
        return out

    def _print_Max(self, expr):
        return self._fold("maximum", expr)

    def _print_Min(self, expr):
        return self._fold("minimum", expr)


class C99(_StableNodes, C99CodePrinter):
    """C99: the stable helpers are ``sbp_logistic``/``sbp_softplus``; H(z) is ``(z > 0)``."""

    logistic = "sbp_logistic({})"
    softplus = "sbp_softplus({})"


class JavaScript(_StableNodes, JavascriptCodePrinter):
    """JavaScript: H(z) is ``(z > 0 ? 1 : 0)``."""

    step = "({} > 0 ? 1 : 0)"
    logistic = "sbpLogistic({})"
    softplus = "sbpSoftplus({})"

    def _print_erf(self, expr):  # JavaScript has none: the page defines sbpErf
        return f"sbpErf({self._print(expr.args[0])})"


class ArrayJax(ArrayNumPy):
    """``jax.numpy`` (as ``jnp``): H(z) keeps z's dtype; erf is ``jax.scipy.special.erf``."""

    prefix = "jnp"
    step = "_step({})"
    logistic = "jax.nn.sigmoid({})"
    softplus = "jnp.logaddexp(0.0, {})"
    erf = "jax.scipy.special.erf({})"


class ArrayTorch(ArrayNumPy):
    """PyTorch tensors: H(z) keeps z's dtype; ``Max`` with a number is ``torch.clamp``; erf is ``torch.erf``."""

    prefix = "torch"
    step = "_step({})"
    logistic = "torch.sigmoid({})"
    softplus = "_softplus({})"
    erf = "torch.erf({})"

    def doprint(self, expr, *args, **kw):
        """Constants such as sqrt(2) become floats first: torch's functions take tensors, not numbers."""
        if isinstance(expr, sp.Basic):
            expr = expr.replace(lambda e: e.is_number and not e.is_Atom and e.is_real,
                                lambda e: sp.Float(float(e), 17))
        return super().doprint(expr, *args, **kw)

    def _fold(self, func: str, expr) -> str:
        """``torch.maximum`` between tensors; ``torch.clamp(x, min=c)`` where one side is a number."""
        numbers = [a for a in expr.args if a.is_number]
        tensors = [self._print(a) for a in expr.args if not a.is_number]
        out = tensors[0]
        for arg in tensors[1:]:
            out = f"torch.{func}({out}, {arg})"
        if numbers:
            bound = "min" if func == "maximum" else "max"
            pick = max if bound == "min" else min
            out = f"torch.clamp({out}, {bound}={self._print(pick(numbers))})"
        return out
