"""The expression vocabulary a Program is written in: named, shaped nodes that every printer walks.

Shapes are per sample, and a per-sample value's last axis is its sample axis, of size 1 (vectors are columns
(n, 1), an image is (C, H, W, 1)); a batch of m puts m there.  Matrices: ``ref`` (a named value), ``T``,
``dot``, ``had`` (⊙), ``add``, ``sub``, ``fn`` (a SymPy scalar function applied entry by entry, a (1×1)
argument broadcast), ``colsum`` and ``colmax`` (over a column's entries), ``ones`` and ``const``.  Tensors:
``contract`` (an index-notation product summed over the indices not kept, as ``einsum``; the sample axis is a
letter like any other, so a product that drops it sums over the batch), ``window`` (the (C, kh, kw, OH, OW)
patches of an image, with stride and zero padding) and its adjoint ``unwindow`` (each patch added back),
``wmax`` (a window's maximum) and its adjoint ``wroute`` (a gradient sent to each window's first maximum),
``reshape``, ``expand`` (broadcast along new axes) and ``chan`` (a per-channel vector along axis 0).  Tokens:
``gather`` (a table's columns picked by integer ids: an embedding) and its adjoint ``scatter`` (columns added
back into the table's shape at their ids, summed over positions and the batch), ``positions`` (0 .. T − 1, a
sequence's columns), ``rows``/``unrows``/``stack`` (an attention head's features), ``sdot`` (a product of two
sequences sample by sample) and ``causal`` (the causal mask); for recurrences ``recur`` (a tanh or ReLU RNN's hidden
states, an LSTM's states, position after position), its adjoint ``bptt`` (backpropagation through time, position
after position backwards) and ``lag`` (each position's previous column: h_{t−1}).  A sequence of T positions is
(features, T) per sample, one column a position; its batch lays the samples' columns side by side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from .naming import Deriv, Key


@dataclass(frozen=True)
class ScalarFn:
    """A scalar SymPy expression in ``vars``, applied entry by entry; ``name`` is how it is shown."""

    name: str
    expr: sp.Expr
    vars: tuple[sp.Symbol, ...]

    def at(self, *args) -> sp.Expr:
        return self.expr.xreplace(dict(zip(self.vars, args)))


@dataclass(frozen=True)
class M:
    """One node of a matrix expression."""

    op: str
    args: tuple = ()
    key: Key | Deriv | None = None
    shape: tuple[int, int] = (1, 1)
    fn: ScalarFn | None = None
    value: float = 0.0
    attrs: tuple = ()  # a tensor op's own parameters: subscripts, kernel, stride, padding

    def __str__(self) -> str:
        return to_text(self)

    def attr(self, name: str):
        return dict(self.attrs)[name]


def tree(x: M) -> dict:
    """A matrix expression as plain data (JSON): ``{"op", "shape", "args"}`` with ``name`` for a reference,
    ``fn`` and ``scalar`` (a SymPy-parsable string in the function's variables) for a function, ``value``."""
    out = {"op": x.op, "shape": list(x.shape)}
    if x.key is not None:
        out["name"] = str(x.key)
    if x.fn is not None:
        out["fn"] = x.fn.name
        out["vars"] = [str(v) for v in x.fn.vars]
        out["scalar"] = str(x.fn.expr)
    if x.op == "const":
        out["value"] = x.value
    if x.attrs:
        out.update({name: list(v) if isinstance(v, tuple) else v for name, v in x.attrs})
    if x.args:
        out["args"] = [tree(a) for a in x.args]
    return out


def ref(key, shape) -> M:
    return M("ref", key=key, shape=tuple(shape))


def T(x: M) -> M:
    return M("T", (x,), shape=(x.shape[1], x.shape[0]))


def dot(x: M, y: M) -> M:
    if x.shape[1] != y.shape[0]:  # pragma: no cover - a bug in a layer, not a user error
        raise ValueError(f"shapes {x.shape} and {y.shape} do not multiply")
    return M("dot", (x, y), shape=(x.shape[0], y.shape[1]))


def _wide(*xs: M) -> tuple[int, ...]:
    return max((x.shape for x in xs), key=math.prod)


def had(x: M, y: M) -> M:
    return M("had", (x, y), shape=_wide(x, y))


def add(*xs: M) -> M:
    return xs[0] if len(xs) == 1 else M("add", tuple(xs), shape=_wide(*xs))


def sub(x: M, y: M) -> M:
    return M("sub", (x, y), shape=_wide(x, y))


def fn(f: ScalarFn, *args: M) -> M:
    return M("fn", tuple(args), shape=_wide(*args), fn=f)


def colsum(x: M) -> M:
    return M("colsum", (x,), shape=(1, x.shape[1]))


def colmax(x: M) -> M:
    return M("colmax", (x,), shape=(1, x.shape[1]))


def bmean(x: M) -> M:
    """The mean over the batch (the samples of a batch), entry by entry: the same for every sample."""
    return M("bmean", (x,), shape=x.shape)


# -- tensors ------------------------------------------------------------------------------------------------
def out_size(n: int, k: int, stride: int, pad: int) -> int:
    """Positions of a window along an axis of ``n``: ⌊(n + 2p − k)/s⌋ + 1, as PyTorch (rows past it are dropped)."""
    return (n + 2 * pad - k) // stride + 1


def window(x: M, k: tuple[int, int], stride: int = 1, pad: int = 0) -> M:
    """The patches of ``x`` (C, H, W, 1): (C, kh, kw, OH, OW, 1), entry [c, a, b, y, x] = X[c, s·y+a−p, s·x+b−p]
    (0 outside the image)."""
    c, h, w, _ = x.shape
    shape = (c, *k, out_size(h, k[0], stride, pad), out_size(w, k[1], stride, pad), 1)
    return M("window", (x,), shape=shape, attrs=(("k", tuple(k)), ("stride", stride), ("pad", pad)))


def unwindow(x: M, shape: tuple[int, ...], k: tuple[int, int], stride: int = 1, pad: int = 0) -> M:
    """The adjoint of :func:`window`: each patch entry added back where it came from, into ``shape`` (C, H, W, 1)."""
    return M("unwindow", (x,), shape=tuple(shape), attrs=(("k", tuple(k)), ("stride", stride), ("pad", pad)))


def contract(subscripts: str, *xs: M) -> M:
    """``einsum(subscripts, *xs)`` over per-sample axes, e.g. ``"oiab,iabyxn->oyxn"``; indices not kept are
    summed (dropping the sample letter sums over the batch)."""
    ins, out = subscripts.split("->")
    sizes = {}
    for letters, x in zip(ins.split(","), xs):
        if len(letters) != len(x.shape):  # pragma: no cover - a bug in a layer, not a user error
            raise ValueError(f"{subscripts}: {letters} does not fit the shape {x.shape}")
        for letter, size in zip(letters, x.shape):
            if sizes.setdefault(letter, size) != size:  # pragma: no cover
                raise ValueError(f"{subscripts}: index {letter} is {sizes[letter]} and {size}")
    return M("contract", tuple(xs), shape=tuple(sizes[c] for c in out), attrs=(("subscripts", subscripts),))


def wmax(x: M) -> M:
    """Each window's maximum: (C, kh, kw, OH, OW, 1) -> (C, OH, OW, 1)."""
    c, _, _, oh, ow, n = x.shape
    return M("wmax", (x,), shape=(c, oh, ow, n))


def wroute(w: M, g: M) -> M:
    """The adjoint of :func:`wmax`: ``g`` (C, OH, OW, 1) placed at each window's first maximum, 0 elsewhere."""
    return M("wroute", (w, g), shape=w.shape)


def reshape(x: M, shape: tuple[int, ...]) -> M:
    """The same entries in C order (PyTorch's ``flatten`` of (C, H, W) is (C·H·W, 1))."""
    return M("reshape", (x,), shape=tuple(shape))


def expand(x: M, shape: tuple[int, ...], axes: tuple[int, ...]) -> M:
    """``x`` repeated along new ``axes`` of ``shape``: (C, 1) with axes (1, 2) -> (C, H, W, 1)."""
    return M("expand", (x,), shape=tuple(shape), attrs=(("axes", tuple(axes)),))


def chan(b: M, shape: tuple[int, ...]) -> M:
    """A per-channel vector (C,) broadcast along axis 0 of ``shape`` (C, H, W, 1): a convolution's bias."""
    return M("chan", (b,), shape=tuple(shape))


def gather(table: M, ids: M, window: bool = True) -> M:
    """``table`` (D, V) read at integer ``ids``: entry [j, t] = table[j, ids[t]] (an embedding).  A context
    ``window`` of T ids (T, 1) gives (D, T, 1); a sequence's ids, one a position (1, T), give (D, T)."""
    shape = (table.shape[0], *ids.shape) if window else (table.shape[0], ids.shape[1])
    return M("gather", (table, ids), shape=shape)


def scatter(g: M, ids: M, vocab: int) -> M:
    """The adjoint of :func:`gather`: ``g`` (D, T, 1) or (D, T) added into a (D, V) table at its ids, entry
    [j, v] = Σ_t,n g[j, t, n]·[ids[t, n] = v] (a scatter-add, summed over the batch)."""
    return M("scatter", (g, ids), shape=(g.shape[0], vocab))


def positions(T: int) -> M:
    """The position of each column of a sequence, (1, T): 0, 1, ..., T − 1 (ids for a positional table)."""
    return M("positions", shape=(1, T))


def rows(x: M, start: int, stop: int) -> M:
    """Rows ``start`` to ``stop`` of ``x`` (an attention head's share of the features)."""
    return M("rows", (x,), shape=(stop - start, x.shape[1]), attrs=(("start", start), ("stop", stop)))


def unrows(x: M, start: int, total: int) -> M:
    """The adjoint of :func:`rows`: ``x`` placed at rows ``start`` of ``total``, zeros elsewhere."""
    return M("unrows", (x,), shape=(total, x.shape[1]), attrs=(("start", start),))


def total(*xs: M) -> M:
    """``add(*xs)``, or where the terms are ``unrows`` of row ranges that tile their shape (the heads' gradients
    sent back to the features), their rows joined in order: the same sum with no zeros added (``stack``)."""
    if len(xs) > 1 and all(x.op == "unrows" for x in xs):
        parts = sorted(xs, key=lambda x: x.attr("start"))
        ends = [p.attr("start") + p.args[0].shape[0] for p in parts]
        if parts[0].attr("start") == 0 and ends[-1] == xs[0].shape[0] and \
                all(p.attr("start") == e for p, e in zip(parts[1:], ends)):
            return stack(*(p.args[0] for p in parts))
    return add(*xs)


def stack(*xs: M) -> M:
    """The rows of ``xs`` one after another (the heads of an attention layer joined)."""
    return M("stack", tuple(xs), shape=(sum(x.shape[0] for x in xs), xs[0].shape[1]))


def sdot(a: M, b: M, ta: bool = False, tb: bool = False) -> M:
    """The product of two sequences, sample by sample: (aᵀ if ``ta`` else a) · (bᵀ if ``tb`` else b), each of T
    columns a sample (positions; attention's scores, mix and their adjoints).  Per sample an ordinary product; a
    batch is m such products, not one product across samples."""
    rows_a = a.shape[1] if ta else a.shape[0]
    cols_b = b.shape[0] if tb else b.shape[1]
    return M("sdot", (a, b), shape=(rows_a, cols_b), attrs=(("ta", ta), ("tb", tb)))


def causal(x: M, fill: float) -> M:
    """Scores (keys × queries, T × T per sample) with each key after its query set to ``fill`` (−∞ before a
    softmax: the causal mask; 0 for a gradient)."""
    return M("causal", (x,), shape=x.shape, attrs=(("fill", fill),))


CELLS = {"tanh": 1, "relu": 1, "lstm": 6}  # a recurrence's cells: rows of its state per hidden unit


def recur(z: M, w: M, cell: str) -> M:
    """The states of a recurrence over each sample's positions, from ``z`` (the input's part at each position) and
    the recurrent weights ``w`` (rows, hidden): ``h_t = f(z_t + w·h_{t−1})`` with h_{−1} = 0 for a tanh or ReLU
    cell (hidden, T); for an LSTM (gates i, f, g, o in z's rows) its state ``[h; c; i; f; g; o]`` (6·hidden, T)."""
    return M("recur", (z, w), shape=(CELLS[cell] * w.shape[1], z.shape[1]), attrs=(("cell", cell),))


def bptt(g: M, s: M, w: M, cell: str) -> M:
    """The adjoint of :func:`recur`: dC/dz from ``g`` = dC/dh (hidden, T) and the states ``s``, backwards through
    time — a tanh cell ``δ_t = (g_t + wᵀ·δ_{t+1}) ⊙ (1 − h_t²)``, δ_T = 0; an LSTM's gates likewise (the layer says
    how)."""
    return M("bptt", (g, s, w), shape=(w.shape[0], g.shape[1]), attrs=(("cell", cell),))


def lag(x: M) -> M:
    """Each sample's columns one position later: column t holds x's column t − 1, and position 0 zeros (h_{t−1})."""
    return M("lag", (x,), shape=x.shape)


def is_tensor(shape) -> bool:
    """Whether a per-sample shape is more than a matrix (an image, a window)."""
    return len(shape) > 2


def ones(shape) -> M:
    return M("ones", shape=tuple(shape))


def const(value: float, shape=(1, 1)) -> M:
    return M("const", shape=tuple(shape), value=float(value))


def refs(x: M) -> list:
    """The keys ``x`` reads, in order of first use."""
    if x.op == "ref":
        return [x.key]
    out = []
    for arg in x.args:
        out += [k for k in refs(arg) if k not in out]
    return out


def substitute(x: M, defs: dict) -> M:
    """Replace references by their definitions, recursively (composes a chain)."""
    if x.op == "ref":
        return substitute(defs[x.key], defs) if x.key in defs else x
    return M(x.op, tuple(substitute(a, defs) for a in x.args), x.key, x.shape, x.fn, x.value, x.attrs)


TENSOR_OPS = ("window", "unwindow", "contract", "wmax", "wroute", "reshape", "expand", "chan", "gather", "scatter",
              "positions", "rows", "unrows", "stack", "sdot", "causal", "recur", "bptt", "lag")
PREC = {"ref": 9, "ones": 9, "const": 9, "fn": 9, "colsum": 9, "colmax": 9, "bmean": 9, "T": 8, "had": 5, "dot": 5,
        "add": 3, "sub": 3, **dict.fromkeys(TENSOR_OPS, 9)}


def dims(shape) -> str:
    """``3×1`` for a column, ``8×4×4×1`` for an image (its sample axis last), ``8×1×3×3`` for conv weights."""
    return "×".join(map(str, shape))


def tensor_text(x: M, args: list[str]) -> str:
    """A tensor op in words and index notation: ``Σ_yxn dC_dZ1[oyxn]·window(X)[iabyxn] → [oiab]``."""
    if x.op == "contract":
        ins, out = x.attr("subscripts").split("->")
        letters = ins.split(",")
        summed = "".join(dict.fromkeys(c for c in "".join(letters) if c not in out))
        terms = "·".join(f"{a if a.isidentifier() else f'({a})'}[{i}]" for a, i in zip(args, letters))
        return f"Σ_{summed} {terms} → [{out}]" if summed else f"{terms} → [{out}]"
    if x.op in ("window", "unwindow"):
        kh, kw = x.attr("k")
        return f"{x.op}_{kh}×{kw}({args[0]}, stride {x.attr('stride')}, padding {x.attr('pad')})"
    if x.op == "reshape":
        return f"reshape({args[0]}, {dims(x.shape)})"
    if x.op == "gather":
        return f"{args[0]}[:, {args[1]}]"
    if x.op == "positions":
        return f"0..{x.shape[1] - 1}"
    if x.op == "rows":
        return f"{args[0]}[{x.attr('start')}:{x.attr('stop')}]"
    if x.op == "unrows":
        return f"rows {x.attr('start')}..{x.attr('start') + x.args[0].shape[0] - 1} of {dims(x.shape)}: {args[0]}"
    if x.op == "stack":
        return f"[{'; '.join(args)}]"
    if x.op == "sdot":
        wrap = [a if a.isidentifier() else f"({a})" for a in args]
        return f"{wrap[0]}{'ᵀ' if x.attr('ta') else ''} · {wrap[1]}{'ᵀ' if x.attr('tb') else ''}"
    if x.op == "causal":
        return f"causal({args[0]}, {'−∞' if x.attr('fill') < 0 else 0})"
    if x.op == "recur":
        cell = x.attr("cell")
        step = (f"lstm({args[0]}[:, t] + {args[1]}·h[t−1]) → [h; c; i; f; g; o][t], c[−1] = 0" if cell == "lstm" else
                f"{cell}({args[0]}[:, t] + {args[1]}·h[t−1])")
        return f"h[t] = {step}, h[−1] = 0, t = 0..{x.shape[1] - 1}"
    if x.op == "bptt":
        return (f"δ[t] = bptt_{x.attr('cell')}({args[0]}[:, t] + {args[2]}ᵀ·δ[t+1]; states {args[1]}), δ[T] = 0, "
                f"t = {x.shape[1] - 1}..0")
    if x.op == "lag":
        return f"{args[0]}[:, t−1]"
    if x.op == "scatter":
        return f"scatter_add({args[0]} → columns {args[1]} of {dims(x.shape)})"
    if x.op == "expand":
        return f"expand({args[0]}, {dims(x.shape)})"
    return f"{x.op}({', '.join(args)})"


def render(x: M, leaf, ops: dict, parent: int = 0) -> str:
    """Print ``x`` with ``leaf(key)`` for references and ``ops`` templates for the rest (infix joins)."""
    if x.op == "ref":
        return leaf(x.key)
    if x.op == "ones":
        return ops["ones"]
    if x.op == "const":
        return ops["const"].format(x.value)
    if x.op == "T":
        return ops["T"].format(render(x.args[0], leaf, ops, 8))
    if x.op in ("fn", "colsum", "colmax", "bmean"):
        inner = ", ".join(render(a, leaf, ops, 0) for a in x.args)
        return ops[x.op].format(inner, name=x.fn.name if x.fn else "")
    if x.op in TENSOR_OPS:
        return ops.get("tensor", tensor_text)(x, [render(a, leaf, ops, 0) for a in x.args])
    prec = PREC[x.op]
    text = ops[x.op].join(render(a, leaf, ops, prec + 1) for a in x.args)
    return f"({text})" if prec < parent else text


TEXT = {"T": "{}ᵀ", "dot": " · ", "had": " ⊙ ", "add": " + ", "sub": " - ", "fn": "{name}({})",
        "colsum": "Σ({})", "colmax": "max({})", "bmean": "mean_batch({})", "ones": "1", "const": "{:g}"}


def to_text(x: M) -> str:
    """``W2ᵀ · (dC_dA2 ⊙ dA2_dZ2)``."""
    return render(x, str, TEXT)
