"""Every name symbackprop gives a symbol: parameters, layer values, entries and derivatives."""

from __future__ import annotations

import re

import sympy as sp

INPUT = "X"
TARGET = "Y"
COST = "C"

_ENTRY = re.compile(r"^([A-Za-z]+)(\d*)((?:_(?:\d+|[a-z]))*)$")


def weight(layer: int) -> str:
    """``W{l}``: the weights of layer ``l`` (1-based)."""
    return f"W{layer}"


def bias(layer: int) -> str:
    """``B{l}``: the biases of layer ``l``."""
    return f"B{layer}"


def pre(layer: int) -> str:
    """``Z{l}``: the pre-activation of layer ``l``."""
    return f"Z{layer}"


def act(layer: int) -> str:
    """``A{l}``: the activation of layer ``l``; ``A0`` is the input ``X``."""
    return INPUT if layer == 0 else f"A{layer}"


def local(num: str, den: str) -> str:
    """The local derivative of ``num`` with respect to ``den``: ``dA2_dZ2``."""
    return f"d{num}_d{den}"


def softmax_temps(layer: int) -> tuple[str, str, str, str]:
    """Names of the stable softmax's max, shifted exponentials, their sum, and the log-sum-exp."""
    return f"M{layer}", f"E{layer}", f"S{layer}", f"LSE{layer}"


def grad(name: str) -> str:
    """The gradient of the cost with respect to ``name``: ``dC_dW1``."""
    return local(COST, name)


def entry(name: str, shape: tuple[int, int], i: int, j: int = 0) -> str:
    """Name of entry (i, j) of a vector or matrix called ``name``.

    A quantity with exactly one entry keeps its plain name (``W1``, ``B2``, ``X``); a column
    vector's entries are ``NAME_i`` and a matrix's ``NAME_i_j``, 0-based.
    """
    rows, cols = shape
    if rows * cols == 1:
        return name
    if cols == 1:
        return f"{name}_{i}"
    return f"{name}_{i}_{j}"


def entry_names(name: str, shape: tuple[int, int]) -> list[list[str]]:
    """All entry names of ``name``, row by row."""
    return [[entry(name, shape, i, j) for j in range(shape[1])] for i in range(shape[0])]


def symbols(name: str, shape: tuple[int, int]) -> sp.Matrix:
    """A SymPy matrix of real symbols, one per entry, named by :func:`entry`."""
    return sp.Matrix([[sp.Symbol(n, real=True) for n in row] for row in entry_names(name, shape)])


def derivative_parts(name: str) -> tuple[str, str] | None:
    """``dC_dW1`` -> ``("C", "W1")``; ``None`` for a name that is not a derivative."""
    if name.startswith("d") and "_d" in name:
        num, den = name[1:].split("_d", 1)
        return num, den
    return None


def subscript(name: str) -> tuple[str, str] | None:
    """``W1_0_2`` -> ``("W", "1;0,2")``, ``Z2`` -> ``("Z", "2")``, ``X`` -> ``("X", "")``; ``None`` if no match."""
    m = _ENTRY.match(name)
    if not m:
        return None
    base, layer, idx = m.groups()
    parts = [layer] if layer else []
    if idx:
        parts.append(",".join(idx.strip("_").split("_")))
    return base, ";".join(parts)


def latex_name(name: str) -> str:
    """LaTeX for a name: ``W1_0_2`` -> ``W_{1;0,2}``; ``dC_dW1`` -> a fraction of partials."""
    parts = derivative_parts(name)
    if parts:
        return rf"\frac{{\partial {latex_name(parts[0])}}}{{\partial {latex_name(parts[1])}}}"
    sub = subscript(name)
    if sub is None:
        return name
    return sub[0] if not sub[1] else f"{sub[0]}_{{{sub[1]}}}"
