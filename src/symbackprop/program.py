"""The Program: the derivation as ordered, named, shaped steps (forward, cost, local, δ, gradient)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from . import matexpr as mx
from .naming import Deriv, Key, grad


@dataclass(frozen=True)
class Param:
    """One learnable tensor of a layer.

    ``init``: "he" or "glorot" (normal, scaled by fan-in/out), "normal" (standard normal, as ``nn.Embedding``),
    "zeros", "ones" or "uniform"; ``matrix``:
    entries are named ``NAME_i_j`` whatever the shape; per-sample gradients add up over a batch.
    """

    key: Key
    shape: tuple[int, ...]
    init: str = "zeros"
    matrix: bool = False
    penalised: bool = False
    state: bool = False  # kept by training but not learned (batchnorm's running statistics)

    @property
    def name(self) -> str:
        return str(self.key)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def std(self) -> float | None:
        """The standard deviation of a normal initial draw (He: √(2/fan_in), Glorot: √(2/(fan_in + fan_out)),
        normal: 1); ``None`` for a constant start (zeros, ones)."""
        fan_in, fan_out = self.fans if len(self.shape) > 1 else (1, 1)
        return {"he": math.sqrt(2.0 / fan_in), "glorot": math.sqrt(2.0 / (fan_in + fan_out)),
                "normal": 1.0}.get(self.init)

    @property
    def fans(self) -> tuple[int, int]:
        """(fan_in, fan_out) as PyTorch counts them: a weight (out, in, kh, kw) has fan_in in·kh·kw."""
        field = math.prod(self.shape[2:])
        return self.shape[1] * field, self.shape[0] * field


@dataclass(frozen=True)
class Step:
    """One equation: ``key = expr`` of per-sample ``shape``.

    ``expr`` is what code computes (``None``: shown only, e.g. a softmax Jacobian); ``shown`` the matrix
    form displayed where it differs (the softmax VJP as ``dA_dZᵀ · dC_dA``).  A local derivative also
    carries ``scalar`` (its expression in layer symbols, derived by SymPy), ``output_form`` and ``kind``.
    """

    key: Key | Deriv
    expr: mx.M | None
    shape: tuple[int, int]
    role: str
    shown: mx.M | None = None
    scalar: sp.Expr | None = None
    output_form: sp.Expr | None = None
    kind: str = ""

    @property
    def lhs(self) -> str:
        return str(self.key)

    @property
    def rhs(self) -> mx.M:
        return self.shown if self.shown is not None else self.expr

    @property
    def name(self) -> str:
        return str(self.key)

    def __str__(self) -> str:
        rhs = mx.to_text(self.rhs) if self.rhs is not None else str(self.scalar)
        return f"{self.lhs} = {rhs}   ({mx.dims(self.shape)})"


@dataclass
class Program:
    """The steps of one network's derivation and what they are about."""

    spec: str
    cost_name: str
    steps: tuple[Step, ...]
    params: tuple[Param, ...]
    input: mx.M
    target: mx.M
    output: mx.M
    cost: Key
    combined: sp.Expr | None = None
    extras: tuple = ()  # inputs besides X and Y, as (key, per-sample shape): dropout masks
    positions: int = 0  # T for a sequence (its columns are positions), else 0
    padded: bool = False  # a sequence's positions without a target (a 0 column of Y) leave the cost and its mean

    @cached_property
    def by_key(self) -> dict:
        return {s.key: s for s in self.steps}

    @cached_property
    def shapes(self) -> dict:
        """Every key's per-sample shape: inputs, targets, parameters and steps."""
        out = {self.input.key: self.input.shape, self.target.key: self.target.shape, **dict(self.extras)}
        out.update({p.key: p.shape for p in self.params})
        out.update({s.key: s.shape for s in self.steps})
        return out

    @cached_property
    def param_keys(self) -> frozenset:
        return frozenset(p.key for p in self.params)

    def role(self, *roles: str) -> list[Step]:
        return [s for s in self.steps if s.role in roles]

    def gradient(self, param: Param) -> Step:
        return self.by_key[grad(param.key)]

    def needed(self, roots) -> list[Step]:
        """The computed steps ``roots`` (keys) depend on, in program order, roots included."""
        wanted = set(roots)
        keep = []
        for s in reversed(self.steps):
            if s.key in wanted and s.expr is not None:
                keep.append(s)
                wanted |= set(mx.refs(s.expr))
        return keep[::-1]

    def batched(self, x: mx.M) -> str | None:
        """Where the samples of a batch lie in ``x``: "col" (columns), "row" (after a transpose), or
        ``None`` (summed by a product, or a parameter)."""
        if x.op in ("ref", "positions"):
            return None if x.key in self.param_keys else "col"
        if x.op in ("ones", "const", "bmean", "scatter"):  # a batch mean is the same for every sample; a scatter
            return None  # adds over the batch
        kinds = [self.batched(a) for a in x.args]
        if x.op == "contract":  # batched when the output keeps some batched argument's sample axis (its last letter)
            ins, out = x.attr("subscripts").split("->")
            return "col" if any(k == "col" and letters[-1] in out for k, letters in zip(kinds, ins.split(","))) \
                else None
        if x.op == "T":
            return {"col": "row", "row": "col", None: None}[kinds[0]]
        if x.op == "dot":
            if kinds == ["col", "row"]:
                return None
            return kinds[1] if kinds[0] is None else kinds[0]
        return "col" if "col" in kinds else None
