"""Every name symbackprop shows, generated from structured keys (templates) and never parsed back."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

# What each name symbackprop generated stands for (its key and entry index), so that printers show it
# (subscripts, fractions of partials) from the structure: a symbol table, filled as names are made.
_MEANING: dict[str, tuple] = {}


@dataclass(frozen=True, order=True)
class Key:
    """A named quantity: ``Key("W", 1)`` prints ``W1``, ``Key("X")`` prints ``X``, ``Key("gamma", 2)`` ``gamma2``,
    ``Key("P", 3, 2)`` (head 2 of an attention layer) ``P3h2``."""

    base: str
    layer: int | None = None
    head: int = 0  # an attention head's own value: ``Key("S", 3, 1)`` prints ``S3h1``

    def __post_init__(self):
        _MEANING.setdefault(str(self), (self, ()))

    def __str__(self) -> str:
        text = self.base if self.layer is None else f"{self.base}{self.layer}"
        return f"{text}h{self.head}" if self.head else text


@dataclass(frozen=True)
class Deriv:
    """The derivative of ``num`` with respect to ``den``: prints ``dA2_dZ2``; ``Deriv(C, W1)`` is ``dC_dW1``."""

    num: Key
    den: Key

    def __post_init__(self):
        _MEANING.setdefault(str(self), (self, ()))

    def __str__(self) -> str:
        return f"d{self.num}_d{self.den}"


@dataclass(frozen=True)
class Heads:
    """Every head's value of one kind as one array (code only): ``Heads(Key("S", 4))`` prints ``S4_heads``."""

    family: Key | Deriv

    def __str__(self) -> str:
        return f"{self.family}_heads"


INPUT, TARGET, COST = "X", "Y", "C"
X, Y, C = Key(INPUT), Key(TARGET), Key(COST)


def weight(layer: int) -> Key:
    """``W{l}``: the weights of layer ``l`` (1-based)."""
    return Key("W", layer)


def bias(layer: int) -> Key:
    """``B{l}``: the biases of layer ``l``."""
    return Key("B", layer)


def pre(layer: int) -> Key:
    """``Z{l}``: the pre-activation of layer ``l``."""
    return Key("Z", layer)


def act(layer: int) -> Key:
    """``A{l}``: the activation of layer ``l``; ``A0`` is the input ``X``."""
    return X if layer == 0 else Key("A", layer)


def local(num: Key, den: Key) -> Deriv:
    """The local derivative of ``num`` with respect to ``den``: ``dA2_dZ2``."""
    return Deriv(num, den)


def grad(key: Key) -> Deriv:
    """The gradient of the cost with respect to ``key``: ``dC_dW1``."""
    return Deriv(C, key)


def entry(name, shape: tuple[int, int], i, j=0, matrix: bool = False) -> str:
    """Name of entry (i, j) of a vector or matrix called ``name``.

    A quantity with exactly one entry keeps its plain name (``W1``, ``B2``, ``X``); a column vector's
    entries are ``NAME_i``, a matrix's (``matrix=True``: weights, whatever their shape) ``NAME_i_j``, 0-based.
    """
    rows, cols = shape
    if rows * cols == 1:
        return str(name)
    if cols == 1 and not matrix:
        return f"{name}_{i}"
    return f"{name}_{i}_{j}"



def symbol(key: Key | Deriv, index: tuple = (), name: str | None = None) -> sp.Symbol:
    """A real SymPy symbol for ``key`` (or one entry of it), remembered for the printers."""
    text = name if name is not None else str(key)
    if isinstance(key, (Key, Deriv)):
        _MEANING.setdefault(text, (key, tuple(index)))
    return sp.Symbol(text, real=True)


def symbols(key: Key | Deriv, shape: tuple[int, int], matrix: bool = False) -> sp.Matrix:
    """A SymPy matrix of real symbols, one per entry, named by :func:`entry`."""
    rows, cols = shape
    one = rows * cols == 1
    return sp.Matrix(rows, cols, lambda i, j: symbol(
        key, () if one else ((i, j) if matrix or cols > 1 else (i,)), entry(key, shape, i, j, matrix)))


def meaning(name: str) -> tuple[Key | Deriv, tuple] | None:
    """What a symbol created by :func:`symbol` stands for, or ``None`` for any other name."""
    return _MEANING.get(name)


def _sub(key: Key, index: tuple) -> tuple[str, str]:
    parts = [str(key.layer) + (f"h{key.head}" if key.head else "")] if key.layer is not None else []
    if index:
        parts.append(",".join(str(v) for v in index))
    return key.base, ";".join(parts)


def parts(obj: Key | Deriv, index: tuple = ()):
    """``(base, subscript)`` for a key, or ``((num_base, num_sub), (den_base, den_sub))`` for a derivative."""
    if isinstance(obj, Deriv):
        num_index = () if obj.num == C else index
        return _sub(obj.num, num_index), _sub(obj.den, index)
    return _sub(obj, index)


def _latex_sub(base: str, sub: str) -> str:
    base = {"gamma": r"\gamma", "beta": r"\beta", "mu": r"\mu", "sigma": r"\sigma", "Xhat": r"\hat{X}",
            "var": r"\sigma^2", "sq": r"\Delta^2"}.get(base, base)
    return base if not sub else f"{base}_{{{sub}}}"


def latex_of(obj: Key | Deriv, index: tuple = ()) -> str:
    """LaTeX for a key (``W_{1;0,2}``) or a derivative (a fraction of partials)."""
    if isinstance(obj, Deriv):
        (nb, ns), (db, ds) = parts(obj, index)
        return rf"\frac{{\partial {_latex_sub(nb, ns)}}}{{\partial {_latex_sub(db, ds)}}}"
    return _latex_sub(*parts(obj, index))


def latex_name(name) -> str:
    """LaTeX for a key, a derivative or a symbol's name that symbackprop created; other text as it is."""
    if isinstance(name, (Key, Deriv)):
        return latex_of(name)
    known = meaning(str(name))
    return latex_of(*known) if known else str(name)
