"""Users' own formulas, ``swish(z) = z*logistic(z)``: parsed by a whitelist over Python's ``ast`` into SymPy.

Nothing of the text is ever run: no ``eval``, ``exec``, ``sympify`` or ``parse_expr``.  Allowed: numbers, the
definition's variables, ``+ - * / **``, ``pi`` and the functions in :data:`FUNCTIONS` (the built-in activations
too, by any of their names).  One variable defines an activation, two ``(a, y)`` a cost.  A definition is
bounded before SymPy sees it (length, nesting, the size of its numbers and exponents) and checked after (a
finite real value, a dependence on its first variable), and its SymPy work is limited in time.  Only
:func:`define` registers a name for the whole process; :func:`definition` (what a model file uses) does not.
"""

from __future__ import annotations

import ast
import contextlib
import math
import re
import signal
import threading

import sympy as sp

from .activations import Activation, logistic, softplus
from .activations import register as register_activation
from .costs import Cost
from .costs import register as register_cost
from .errors import SpecError
from .registry import ACTIVATIONS, COSTS

MAX_LENGTH = 1000
MAX_DEPTH = 50  # nesting of calls, operators and parentheses
MAX_NUMBER = 1000  # integer literals and exponents, in magnitude
MAX_MAGNITUDE = 1e308  # any constant the formula computes (a float's range)
MAX_SECONDS = 5.0  # SymPy's work on one definition

FUNCTIONS = {
    "exp": (sp.exp, 1), "log": (sp.log, 1), "sqrt": (sp.sqrt, 1), "tanh": (sp.tanh, 1), "sinh": (sp.sinh, 1),
    "cosh": (sp.cosh, 1), "sin": (sp.sin, 1), "cos": (sp.cos, 1), "erf": (sp.erf, 1), "logistic": (logistic, 1),
    "softplus": (softplus, 1), "abs": (sp.Abs, 1), "max": (sp.Max, 2), "min": (sp.Min, 2),
}
_BINARY = {ast.Add: lambda u, v: u + v, ast.Sub: lambda u, v: u - v, ast.Mult: lambda u, v: u * v,
           ast.Div: lambda u, v: u / v}
_HINTS = {ast.BitXor: "^ is not a power here: use ** for powers (z**2)", ast.FloorDiv: "use / for division",
          ast.Mod: "% is not allowed"}
_HEAD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*([A-Za-z_]\w*)\s*(?:,\s*([A-Za-z_]\w*)\s*)?\)\s*=(.*)\Z",
                   re.S)
_NOT_REAL = (sp.zoo, sp.oo, -sp.oo, sp.nan, sp.I)
_ACTIVATION_POINTS = (-2.5, -0.5, 0.5, 1.5, 3.0)
_COST_POINTS = ((0.25, 0.0), (0.75, 1.0), (0.5, 0.5), (-1.5, 2.0))


class _Builder:
    """Builds the SymPy expression of one definition's whitelisted syntax tree, refusing anything else."""

    def __init__(self, text: str, names: dict, offset: int):
        self.text, self.names, self.offset = text, names, offset
        self.functions = {**_builtin_activations(), **FUNCTIONS}

    def fail(self, node, message: str) -> SpecError:
        column = getattr(node, "col_offset", 0) + self.offset + 1
        return SpecError(f"--define {self.text!r}: {message} at column {column}")

    def number(self, node, value) -> sp.Expr:
        if isinstance(value, int) and abs(value) > MAX_NUMBER:
            raise self.fail(node, f"{value} is too large (integers are at most {MAX_NUMBER:,} in magnitude)")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(node, f"{value} is not a finite number")
        return sp.Integer(value) if isinstance(value, int) else sp.nsimplify(value)

    def power(self, node, base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
        if exponent.is_Number and abs(exponent) > MAX_NUMBER:
            raise self.fail(node, f"the exponent {exponent} is too large (at most {MAX_NUMBER:,} in magnitude)")
        if base.is_Number and exponent.is_Number and base != 0 and \
                abs(float(exponent)) * math.log10(abs(float(base))) > math.log10(MAX_MAGNITUDE):
            raise self.fail(node, f"{base}**{exponent} is beyond {MAX_MAGNITUDE:g}")
        return base ** exponent

    def constant(self, node, value: sp.Expr) -> sp.Expr:
        """``value``, refused when it is a number beyond a float's range."""
        if value.is_Number and value.is_finite and abs(value) > MAX_MAGNITUDE:
            raise self.fail(node, f"a constant beyond {MAX_MAGNITUDE:g}")
        return value

    def build(self, node) -> sp.Expr:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return self.number(node, node.value)
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            if node.id == "pi":
                return sp.pi
            raise self.fail(node, f"unknown name '{node.id}'")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return self.constant(node, self.power(node, self.build(node.left), self.build(node.right)))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return self.constant(node, _BINARY[type(node.op)](self.build(node.left), self.build(node.right)))
        if isinstance(node, ast.BinOp) and type(node.op) in _HINTS:
            raise self.fail(node, _HINTS[type(node.op)])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = self.build(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            return self.call(node)
        raise self.fail(node, f"{type(node).__name__} is not allowed (numbers, variables, + - * / ** and "
                              "the allowed functions only)")

    def call(self, node) -> sp.Expr:
        name = node.func.id
        if name not in self.functions:
            raise self.fail(node, f"'{name}' is not an allowed function (allowed: {', '.join(self.functions)})")
        func, arity = self.functions[name]
        if len(node.args) != arity:
            raise self.fail(node, f"{name} takes {arity} argument{'s' if arity > 1 else ''}, not {len(node.args)}")
        return func(*(self.build(arg) for arg in node.args))


def _builtin_activations() -> dict:
    """The built-in one-variable activations by every name they are known by (``sigmoid`` too), in their stable
    nodes: ``relu(z)`` is ``max(z, 0)``, ``sigmoid(z)`` is ``logistic(z)``."""
    out = {}
    for alias, act in ACTIVATIONS.aliases().items():
        if type(act) is Activation:
            out[alias] = (act.stable, 1)
    return out


def reserved() -> set[str]:
    """The names a definition may not take: the built-in activations and costs (every alias), the formula
    functions, ``pi``, and the words of the spec grammar."""
    from .dense_spec import NORMS

    builtin = {alias for registry in (ACTIVATIONS, COSTS) for alias, entry in registry.aliases().items()
               if not isinstance(entry, (Defined, DefinedCost))}
    return builtin | set(FUNCTIONS) | set(NORMS) | {"pi", "residual", "dropout", "upstream"}


def _depth(tree) -> int:
    """The nesting depth of a syntax tree, measured without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return deepest


class _Slow(BaseException):
    """SymPy's work on a definition ran past :data:`MAX_SECONDS`."""


@contextlib.contextmanager
def _time_limit(text: str, seconds: float = MAX_SECONDS):
    """Refuse a definition whose SymPy work takes longer than ``seconds`` (in the main thread, where a timer can
    interrupt it; elsewhere the bounds on its numbers and nesting are what limit it)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(*_):
        raise _Slow

    old = signal.signal(signal.SIGALRM, expire)
    remaining, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Slow:
        raise SpecError(f"--define {text!r}: too much work for SymPy (over {seconds:g} s); simplify it") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if remaining:  # an outer timer (check's --timeout) keeps running
            signal.setitimer(signal.ITIMER_REAL, remaining)


def parse(text: str) -> tuple[str, tuple[str, ...], sp.Expr]:
    """``"swish(z) = z*logistic(z)"`` -> ``("swish", ("z",), expr)``; one line naming the position otherwise."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise SpecError(f"--define must be a text of at most {MAX_LENGTH} characters")
    head = _HEAD.match(text)
    if not head:
        raise SpecError(f"--define {text!r}: expected NAME(z) = EXPRESSION or NAME(a, y) = EXPRESSION")
    name, *variables, body = head.groups()
    variables = tuple(v for v in variables if v)
    if len(set(variables)) != len(variables):
        raise SpecError(f"--define {text!r}: the variables must differ")
    if name in variables or name.lower() in reserved():
        raise SpecError(f"--define {text!r}: '{name}' is a built-in name and cannot be defined; choose another")
    offset = head.start(4)
    stripped = body.strip()
    offset += body.index(stripped[0]) if stripped else 0
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as err:
        raise SpecError(f"--define {text!r}: not an expression ({err.msg}) at column "
                        f"{offset + (err.offset or 1)}") from None
    except (RecursionError, MemoryError):
        raise SpecError(f"--define {text!r}: nested more than {MAX_DEPTH} levels deep") from None
    if _depth(tree) > MAX_DEPTH:
        raise SpecError(f"--define {text!r}: nested more than {MAX_DEPTH} levels deep")
    symbols = {v: sp.Symbol(v, real=True) for v in variables}
    with _time_limit(text):
        expr = _Builder(text, symbols, offset).build(tree.body)
        _usable(text, expr, [symbols[v] for v in variables])
    return name, variables, expr.xreplace({s: sp.Symbol(f"_{v}", real=True) for v, s in symbols.items()})


def _usable(text: str, expr: sp.Expr, variables: list[sp.Symbol]) -> None:
    """Refuse a formula that has no finite real value or does not depend on its first variable."""
    first = variables[0]
    bad = next((c for c in _NOT_REAL if expr.has(c)), None)
    if bad is not None:
        raise SpecError(f"--define {text!r}: has no finite real value (SymPy makes it {bad})")
    derivative = sp.diff(expr, first)
    if first not in expr.free_symbols or derivative == 0:
        what = "a constant activation passes no gradient" if len(variables) == 1 else "a cost must depend on a"
        raise SpecError(f"--define {text!r}: does not depend on {first} ({what})")
    points = ([{first: v} for v in _ACTIVATION_POINTS] if len(variables) == 1 else
              [dict(zip(variables, p)) for p in _COST_POINTS])
    for point in points:
        values = [_value(f, point) for f in (expr, derivative)]
        if all(v is not None and math.isfinite(v) for v in values):
            return
    where = ", ".join(f"{first} = {p[first]:g}" for p in points)
    raise SpecError(f"--define {text!r}: has no finite real value or derivative at any of {where}")


_FLOAT = {sp.exp: math.exp, sp.log: math.log, sp.tanh: math.tanh, sp.sinh: math.sinh, sp.cosh: math.cosh,
          sp.sin: math.sin, sp.cos: math.cos, sp.erf: math.erf, sp.Abs: abs, sp.Max: max, sp.Min: min,
          logistic: lambda v: 0.5 * (1 + math.tanh(v / 2)),
          softplus: lambda v: max(v, 0.0) + math.log1p(math.exp(-abs(v))),
          sp.Heaviside: lambda v, h=0.5: h if v == 0 else float(v > 0),
          sp.sign: lambda v: float((v > 0) - (v < 0))}


def _value(expr: sp.Expr, point: dict) -> float | None:
    """``expr`` at ``point`` in floating point (``inf`` where it overflows), or ``None`` where it has no real
    value; evaluated in floats so that a tower of exponentials costs no more than its size."""
    try:
        return _float(expr, point)
    except (ValueError, ZeroDivisionError, TypeError):
        return None
    except OverflowError:
        return math.inf


def _float(expr, point: dict) -> float:
    if expr in point:
        return float(point[expr])
    if expr.is_Number or expr is sp.pi:
        return float(expr)
    args = [_float(arg, point) for arg in expr.args]
    if expr.is_Add:
        return math.fsum(args)
    if expr.is_Mul:
        return math.prod(args)
    if expr.is_Pow:
        value = math.pow(*args)
        if isinstance(value, complex):
            raise ValueError
        return value
    if expr.func in _FLOAT:
        return float(_FLOAT[expr.func](*args))
    return float(expr.func(*map(sp.Float, args)).evalf())  # a function SymPy's derivatives bring in


class Defined(Activation):
    """An activation from a user's definition; ``text`` is kept so a model file can re-parse it."""

    def __init__(self, name: str, expr: sp.Expr, var: sp.Symbol, text: str):
        super().__init__(name, lambda x: expr.xreplace({var: x}), description=text)
        self.text = text


class DefinedCost(Cost):
    """A cost from a user's definition ``name(a, y) = ...``."""

    def __init__(self, name: str, expr: sp.Expr, a: sp.Symbol, y: sp.Symbol, text: str):
        super().__init__(name, lambda av, yv: expr.xreplace({a: av, y: yv}), description=text)
        self.text = text


def definition(text: str) -> Defined | DefinedCost:
    """Parse ``text`` into the activation (one variable) or cost (two) it defines, registering nothing."""
    name, variables, expr = parse(text)
    syms = [sp.Symbol(f"_{v}", real=True) for v in variables]
    if len(syms) == 1:
        return Defined(name, expr, syms[0], text)
    return DefinedCost(name, expr, syms[0], syms[1], text)


def define(text: str):
    """Parse ``text`` and register what it defines for this process (what ``--define`` does)."""
    made = definition(text)
    return register_activation(made) if isinstance(made, Defined) else register_cost(made)
