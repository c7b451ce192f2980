"""Users' own formulas, ``swish(z) = z*logistic(z)``: parsed by a whitelist over Python's ``ast`` into SymPy.

Nothing of the text is ever run: no ``eval``, ``exec``, ``sympify`` or ``parse_expr``.  Allowed: numbers, the
definition's variables, ``+ - * / **``, ``pi`` and the functions in :data:`FUNCTIONS`.  One variable defines
an activation, two ``(a, y)`` a cost.
"""

from __future__ import annotations

import ast
import re

import sympy as sp

from .activations import Activation, logistic, softplus
from .activations import register as register_activation
from .costs import Cost
from .costs import register as register_cost
from .errors import SpecError

MAX_LENGTH = 1000

FUNCTIONS = {
    "exp": (sp.exp, 1), "log": (sp.log, 1), "sqrt": (sp.sqrt, 1), "tanh": (sp.tanh, 1), "sinh": (sp.sinh, 1),
    "cosh": (sp.cosh, 1), "sin": (sp.sin, 1), "cos": (sp.cos, 1), "erf": (sp.erf, 1), "logistic": (logistic, 1),
    "softplus": (softplus, 1), "abs": (sp.Abs, 1), "max": (sp.Max, 2), "min": (sp.Min, 2),
}
_BINARY = {ast.Add: lambda u, v: u + v, ast.Sub: lambda u, v: u - v, ast.Mult: lambda u, v: u * v,
           ast.Div: lambda u, v: u / v, ast.Pow: lambda u, v: u ** v}
_HEAD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*([A-Za-z_]\w*)\s*(?:,\s*([A-Za-z_]\w*)\s*)?\)\s*=(.*)\Z",
                   re.S)


def _fail(text: str, node, message: str, offset: int) -> SpecError:
    column = getattr(node, "col_offset", 0) + offset + 1
    return SpecError(f"--define {text!r}: {message} at column {column}")


def _build(node, names: dict, text: str, offset: int):
    """The SymPy expression of one whitelisted node; anything else is refused, naming its position."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return sp.nsimplify(node.value) if isinstance(node.value, float) else sp.Integer(node.value)
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        if node.id == "pi":
            return sp.pi
        raise _fail(text, node, f"unknown name '{node.id}'", offset)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_build(node.left, names, text, offset), _build(node.right, names, text, offset))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _build(node.operand, names, text, offset)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        if node.func.id not in FUNCTIONS:
            raise _fail(text, node, f"'{node.func.id}' is not an allowed function "
                                    f"(allowed: {', '.join(FUNCTIONS)})", offset)
        func, arity = FUNCTIONS[node.func.id]
        if len(node.args) != arity:
            raise _fail(text, node, f"{node.func.id} takes {arity} argument{'s' if arity > 1 else ''}, "
                                    f"not {len(node.args)}", offset)
        return func(*(_build(a, names, text, offset) for a in node.args))
    raise _fail(text, node, f"{type(node).__name__} is not allowed (numbers, variables, + - * / ** and "
                            "the allowed functions only)", offset)


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
    if name in FUNCTIONS or name in variables or name == "pi":
        raise SpecError(f"--define {text!r}: '{name}' cannot be defined")
    offset = head.start(4)
    stripped = body.strip()
    offset += body.index(stripped[0]) if stripped else 0
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as err:
        raise SpecError(f"--define {text!r}: not an expression ({err.msg}) at column "
                        f"{offset + (err.offset or 1)}") from None
    symbols = {v: sp.Symbol(v, real=True) for v in variables}
    expr = _build(tree.body, symbols, text, offset)
    return name, variables, expr.xreplace({s: sp.Symbol(f"_{v}", real=True) for v, s in symbols.items()})


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


def define(text: str):
    """Parse ``text`` and register what it defines: an activation (one variable) or a cost (two)."""
    name, variables, expr = parse(text)
    syms = [sp.Symbol(f"_{v}", real=True) for v in variables]
    if len(syms) == 1:
        return register_activation(Defined(name, expr, syms[0], text))
    return register_cost(DefinedCost(name, expr, syms[0], syms[1], text))
