"""Presentation MathML for names, SymPy expressions, matrix-form expressions and numbers (no CDN, no JS)."""

from __future__ import annotations

import html
import itertools

import numpy as np
from sympy.printing.mathml import MathMLPresentationPrinter

from .. import naming
from ..matexpr import TENSOR_OPS, M


def _mi(base: str, sub: str) -> str:
    base = html.escape({"gamma": "γ", "beta": "β", "mu": "μ", "sigma": "σ", "Xhat": "X\u0302", "var": "σ²"}
                       .get(base, base))
    return f"<mi>{base}</mi>" if not sub else f"<msub><mi>{base}</mi><mrow><mn>{html.escape(sub)}</mn></mrow></msub>"


def name(text) -> str:
    """A key or generated name: ``dC_dW1`` -> a fraction of partials; ``W1_0_2`` -> W with subscript 1;0,2."""
    known = naming.meaning(str(text))
    if known is None:
        return f"<mi>{html.escape(str(text))}</mi>"
    obj, index = known
    if isinstance(obj, naming.Deriv):
        (nb, ns), (db, ds) = naming.parts(obj, index)
        return f"<mfrac><mrow><mo>∂</mo>{_mi(nb, ns)}</mrow><mrow><mo>∂</mo>{_mi(db, ds)}</mrow></mfrac>"
    return _mi(*naming.parts(obj, index))


class _Printer(MathMLPresentationPrinter):
    """SymPy's presentation MathML with symbackprop's names and ``[z > 0]`` for the step function."""

    def _print_Symbol(self, sym, style="plain"):
        from xml.dom.minidom import parseString

        node = parseString(f'<r xmlns="">{name(sym.name)}</r>').documentElement.firstChild
        return self.dom.importNode(node, True)

    def _print_Heaviside(self, expr):
        row = self.dom.createElement("mrow")
        for text in ("[",):
            mo = self.dom.createElement("mo")
            mo.appendChild(self.dom.createTextNode(text))
            row.appendChild(mo)
        row.appendChild(self._print(expr.args[0]))
        for text in (">",):
            mo = self.dom.createElement("mo")
            mo.appendChild(self.dom.createTextNode(text))
            row.appendChild(mo)
        mn = self.dom.createElement("mn")
        mn.appendChild(self.dom.createTextNode("0"))
        row.appendChild(mn)
        mo = self.dom.createElement("mo")
        mo.appendChild(self.dom.createTextNode("]"))
        row.appendChild(mo)
        return row

    def _print_KroneckerDelta(self, expr):
        """δ with its indices as a subscript: ``δ_ij``."""
        sub = self.dom.createElement("msub")
        mi = self.dom.createElement("mi")
        mi.appendChild(self.dom.createTextNode("δ"))
        sub.appendChild(mi)
        row = self.dom.createElement("mrow")
        for index in expr.args:
            row.appendChild(self._print(index))
        sub.appendChild(row)
        return sub


def expr(e) -> str:
    """A SymPy expression as presentation MathML (without the ``<math>`` element)."""
    return _Printer().doprint(e)


_OPS = {"dot": "<mo>·</mo>", "had": "<mo>⊙</mo>", "add": "<mo>+</mo>", "sub": "<mo>−</mo>"}
_PREC = {"T": 8, "had": 5, "dot": 5, "add": 3, "sub": 3}


def matrix_expr(x: M, parent: int = 0) -> str:
    """The matrix form (``W2ᵀ · (dC_dA2 ⊙ dA2_dZ2)``) as MathML."""
    if x.op == "ref":
        return name(x.key)
    if x.op == "ones":
        return "<mn>1</mn>"
    if x.op == "const":
        return number(x.value)
    if x.op == "T":
        return f"<msup><mrow>{matrix_expr(x.args[0], 8)}</mrow><mi>T</mi></msup>"
    if x.op in ("fn", "colsum", "colmax", "bmean"):
        label = {"colsum": "Σ", "colmax": "max", "bmean": "mean_batch"}.get(x.op) or x.fn.name
        inner = "<mo>,</mo>".join(matrix_expr(a) for a in x.args)
        return f"<mrow><mi>{html.escape(label)}</mi><mo>(</mo>{inner}<mo>)</mo></mrow>"
    if x.op in TENSOR_OPS:
        return _tensor(x)
    prec = _PREC[x.op]
    inner = _OPS[x.op].join(matrix_expr(a, prec + 1) for a in x.args)
    return f"<mrow><mo>(</mo>{inner}<mo>)</mo></mrow>" if prec < parent else f"<mrow>{inner}</mrow>"


def _tensor(x: M) -> str:
    """A tensor op: a contraction in index notation (Σ over the summed letters), the others as named functions."""
    args = [matrix_expr(a) for a in x.args]
    if x.op == "contract":
        ins, out = x.attr("subscripts").split("->")
        letters = ins.split(",")
        summed = "".join(dict.fromkeys(c for c in "".join(letters) if c not in out))
        terms = "<mo>·</mo>".join(f"<msub><mrow><mo>(</mo>{a}<mo>)</mo></mrow><mi>{i}</mi></msub>"
                                  for a, i in zip(args, letters))
        total = f"<munder><mo>Σ</mo><mi>{summed}</mi></munder>" if summed else ""
        return f"<mrow>{total}{terms}<mo>→</mo><mo>[</mo><mi>{out}</mi><mo>]</mo></mrow>"
    label = x.op
    if x.op in ("window", "unwindow"):
        (kh, kw), s, p = x.attr("k"), x.attr("stride"), x.attr("pad")
        args.append(f"<mtext>stride {s}, padding {p}</mtext>")
        return (f"<mrow><msub><mi>{x.op}</mi><mn>{kh}×{kw}</mn></msub><mo>(</mo>{'<mo>,</mo>'.join(args)}"
                "<mo>)</mo></mrow>")
    if x.op in ("reshape", "expand"):
        args.append(f"<mn>{'×'.join(map(str, x.shape))}</mn>")
    return f"<mrow><mi>{label}</mi><mo>(</mo>{'<mo>,</mo>'.join(args)}<mo>)</mo></mrow>"


def number(v: float) -> str:
    v = float(v) + 0.0  # no "-0"
    return f"<mn>{v:.4g}</mn>" if v >= 0 else f"<mrow><mo>−</mo><mn>{-v:.4g}</mn></mrow>"


SHOWN = 6  # rows or columns of an array shown before an ellipsis


def _cut(n: int) -> list[int | None]:
    """Indices to show of ``n``: all when few, else the first ones, an ellipsis (``None``) and the last."""
    return list(range(n)) if n <= SHOWN + 1 else [*range(SHOWN - 1), None, n - 1]


LARGE = 4096  # entries beyond which a tensor is shown by its shape only (an image's windows)


def array(a) -> str:
    """A scalar as a number; a vector or matrix as a bracketed table (4 significant digits, large ones cut); a
    tensor as its matrices over the last two axes, labelled by their leading indices (an image: one per channel)."""
    a = np.asarray(a, dtype=float)
    if a.ndim > 2 and a.shape[-1] == 1:  # a per-sample value: its sample axis is not shown
        a = a[..., 0]
    if a.ndim > 2:
        if a.size > LARGE:
            return f"<mtext>({'×'.join(map(str, a.shape))} values)</mtext>"
        blocks = [f"<msub><mo>[</mo><mrow><mn>{','.join(map(str, idx))}</mn></mrow></msub>{array(a[idx])}"
                  if idx is not None else "<mo>⋯</mo>" for idx in _leading(a.shape[:-2])]
        return "<mrow>" + "<mspace width='0.6em'/>".join(blocks) + "</mrow>"
    a = np.atleast_2d(a)
    if a.size == 1:
        return number(float(a.ravel()[0]))
    rows = []
    for i in _cut(a.shape[0]):
        cells = []
        for j in _cut(a.shape[1]):
            if i is None:
                cells.append("<mtd><mo>⋮</mo></mtd>" if j is not None else "<mtd><mo>⋱</mo></mtd>")
            else:
                cells.append("<mtd><mo>⋯</mo></mtd>" if j is None else f"<mtd>{number(float(a[i, j]))}</mtd>")
        rows.append("<mtr>" + "".join(cells) + "</mtr>")
    return f"<mrow><mo>[</mo><mtable>{''.join(rows)}</mtable><mo>]</mo></mrow>"


def _leading(shape) -> list:
    """The leading index tuples of a tensor to show (first few, an ellipsis ``None``, the last)."""
    every = list(itertools.product(*(range(n) for n in shape)))
    return every if len(every) <= SHOWN else [*every[:SHOWN - 2], None, every[-1]]


def math(inner: str, display: bool = True, label: str = "") -> str:
    """Wrap MathML in a ``<math>`` element (``display="block"`` for an equation on its own line)."""
    attr = ' display="block"' if display else ""
    aria = f' alttext="{html.escape(label)}"' if label else ""
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML"{attr}{aria}>{inner}</math>'


def equation(lhs: str, rhs: str, display: bool = True, label: str = "") -> str:
    return math(f"<mrow>{lhs}<mo>=</mo>{rhs}</mrow>", display, label)
