"""An attention layer's heads printed as one array: a step the Program writes once a head, computed for every head
at once on a (heads, rows, columns) array.

The Program keeps one step a head (``S4h1 = causal(0.25 ⊙ K4h1ᵀ · Q4h1, −∞)``, then ``S4h2``, …): that is how the
derivation is shown and proven.  Where an array library pays per call (NumPy: a few microseconds each, over arrays
of a few hundred kB), the heads' steps of one kind, identical but for their head, are printed as one:
``S4_heads = _causal(0.25 * _sdot(K4_heads, Q4_heads, ...))`` on the heads' rows as an axis of their own
(``Q4.reshape(4, 16, -1)``: a view), and each head's value is still named (``S4h1, …, S4h4 = S4_heads``: views).
A family is printed this way only where every head's step has the same form, its head's rows are the head's share
of one array, and what it reads is there already; otherwise each head's step prints as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .. import matexpr as mx
from ..naming import Deriv, Heads, Key

BATCHED_OPS = frozenset({"ref", "const", "rows", "sdot", "causal", "fn", "had", "add", "sub", "colsum", "colmax"})


def head_of(key) -> int:
    """The head a value belongs to (0: none)."""
    if isinstance(key, Key):
        return key.head
    if isinstance(key, Deriv):
        return max(key.num.head, key.den.head)
    return 0


def family(key):
    """The key with its head taken out: every head's ``S4hk`` is the family ``S4``."""
    if isinstance(key, Key):
        return replace(key, head=0)
    return Deriv(family(key.num), family(key.den))


@dataclass
class Family:
    """Every head's step of one kind: ``members`` in head order, ``form`` the expression they all have (head 1's,
    its heads' values read as the families' arrays and its share of rows as the head axis)."""

    key: object
    members: list
    form: mx.M

    @property
    def name(self) -> str:
        return str(Heads(self.key))


def _form(x: mx.M, h: int, width: dict) -> mx.M | None:
    """``x`` (head ``h``'s expression) with head ``h``'s values read as their families' arrays and its share of
    an array's rows as head 1's; None where it reads another head's value, another share, or an op with no batched
    form."""
    if x.op not in BATCHED_OPS:
        return None
    if x.op == "ref":
        k = head_of(x.key)
        if k == 0:
            return x
        return mx.ref(Heads(family(x.key)), x.shape) if k == h else None
    if x.op == "rows":
        n = x.shape[0]
        start = x.attr("start")
        if start != (h - 1) * n or x.args[0].op != "ref" or head_of(x.args[0].key) or \
                width.setdefault(x.args[0].key, (n, x.args[0].shape[0])) != (n, x.args[0].shape[0]):
            return None
        return mx.rows(x.args[0], 0, n)
    args = [_form(a, h, width) for a in x.args]
    return None if any(a is None for a in args) else replace(x, args=tuple(args))


def families(steps, skip=frozenset()) -> dict:
    """``{family key: Family}`` for each kind of per-head step of which every head (1 … H, H ≥ 2) is among
    ``steps`` with the same form; steps whose keys are in ``skip`` are left as they are."""
    by: dict = {}
    for s in steps:
        if s.expr is not None and head_of(s.key) and s.key not in skip:
            by.setdefault(family(s.key), []).append(s)
    out = {}
    for key, members in by.items():
        members.sort(key=lambda s: head_of(s.key))
        if len(members) < 2 or [head_of(s.key) for s in members] != list(range(1, len(members) + 1)):
            continue
        width: dict = {}
        forms = [_form(s.expr, head_of(s.key), width) for s in members]
        whole = all(rows == n * len(members) for n, rows in width.values())  # every head's share is here
        if forms[0] is not None and all(f == forms[0] for f in forms) and whole:
            out[key] = Family(key, members, forms[0])
    return out


def ready(fam: Family, printed: set, batched: dict, pending: set) -> bool:
    """Whether every value the family's form reads is there: another family of as many heads printed as one, or a
    step printed (``pending``: the steps to print)."""
    for k in mx.refs(fam.form):
        if isinstance(k, Heads):
            if k.family not in batched or len(batched[k.family].members) != len(fam.members):
                return False
        elif k in pending and k not in printed:
            return False
    return True


def names(fam: Family) -> dict:
    """Code for the form's nodes that print differently on the head axis: a share of an array's rows becomes
    the array's rows split into the heads (a view)."""
    out = {}
    heads = len(fam.members)

    def walk(x):
        if x.op == "rows":
            out[x] = f"{x.args[0].key}.reshape({heads}, {x.shape[0]}, -1)"
        for a in x.args:
            walk(a)
    walk(fam.form)
    return out


def joined(x: mx.M, batched: dict) -> str | None:
    """``O4h1 … O4h4`` joined (``stack`` of a family printed as one, in head order): the family's array with its
    head axis folded back into the rows (a view where it lies in order)."""
    if x.op != "stack" or any(a.op != "ref" for a in x.args):
        return None
    fam = batched.get(family(x.args[0].key))
    if fam is None or [a.key for a in x.args] != [s.key for s in fam.members]:
        return None
    return f"{fam.name}.reshape({x.shape[0]}, -1)"


def stacked(x: mx.M, batched: dict) -> dict:
    """Code for every join of a family's heads inside ``x``."""
    out = {}

    def walk(y):
        code = joined(y, batched)
        if code is not None:
            out[y] = code
            return
        for a in y.args:
            walk(a)
    walk(x)
    return out
