"""Plain-text and JSON renderings of a derivation, in the reference's notation (``Z1 > 0``)."""

from __future__ import annotations

import sympy as sp
from sympy.printing.str import StrPrinter

from .. import naming
from ..matexpr import dims, refs, to_text, tree
from ..registry import RENDERERS


class TextPrinter(StrPrinter):
    """SymPy's str printer, but a step function prints as the reference writes it: ``Z1 > 0``."""

    def _print_Heaviside(self, expr):
        text = f"{self._print(expr.args[0])} > 0"
        return text if self._top is expr else f"({text})"

    def _print_MatrixBase(self, expr):
        """A column (an LSTM's four gates) on one line: ``[a; b; c; d]``."""
        rows = ["; ".join(", ".join(self._print(v) for v in expr.row(i)) for i in range(expr.rows))]
        return f"[{rows[0]}]"

    def doprint(self, expr):
        self._top = expr
        return super().doprint(expr)


def text(expr) -> str:
    """One expression in the reference's notation."""
    return TextPrinter().doprint(expr)


def _shape(shape) -> str:
    return dims(shape)


def render_text(d, entries: bool = False, expanded: bool = False, cse: bool = False) -> str:
    """The derivation as lines ``name = expression``; for the reference, exactly its eight lines first."""
    lines: list[str] = []
    scalar = d.is_scalar
    if not scalar:
        lines.append(f"# {d.network.spec}, cost {d.cost.name}: per sample; a batch takes the mean.")
        if d.network.l2:
            lines.append(f"# Weight decay: the batch cost adds {d.network.l2:g}·Σ‖W‖² over the weights (not biases or "
                         f"norm parameters); each weight gradient adds {2 * d.network.l2:g} ⊙ W.")
        lines.append("# Local derivatives (layer symbols stand for whole vectors; ⊙ is elementwise).")
    for ld in d.local.values():
        suffix = "" if scalar else f"   [{ld.kind}, {_shape(ld.shape)}]"
        lines.append(f"{ld.name} = {text(ld.expr)}{suffix}")
    if not scalar and d.output_forms:
        lines.append("# Output forms (what generated code evaluates).")
        lines += [f"{name} = {text(expr)}" for name, expr in d.output_forms.items()]
    if d.combined is not None:
        lines.append(f"{combined_lhs(d)} = {text(d.combined)}")
    if scalar and d.composed:
        lines += [f"{c.name} = {c.product} = {text(c.expr)}" for c in d.chains.values()]
    else:
        if d.composed:
            lines.append("# Chain rule per parameter.")
            lines += [f"{c.name} = {c.product}" for c in d.chains.values()]
        else:
            lines.append(f"# {uncomposed(d)}")
        windows = windows_read(d)
        if windows:
            lines.append("# Forward values the backward pass reads again, made each layer's own way.")
            lines += [str(step) for step in windows]
        lines.append("# Matrix form, layer by layer (shapes per sample).")
        lines += [str(step) for step in d.steps]
        if d.composed:
            lines += [f"{c.name} = {to_text(c.matrix)}   ({_shape(c.shape)})" for c in d.chains.values()]
        forms = d.closed_forms
        if forms:
            lines.append("# Closed forms the layers compute (the Jacobian is never formed).")
            lines += [f"{form}\n#   {proof}" for form, proof in forms]
    if entries:
        lines.append("# Per-entry form: the backward pass entry by entry.")
        lines += [f"{lhs} = {text(rhs)}" for lhs, rhs in d.entries.backward]
        lines.append("# Per-entry gradients in named intermediates.")
        lines += [f"dC_d{name} = {text(expr)}" for name, expr in d.entries.gradients.items()]
    if expanded:
        lines.append("# Fully expanded (inputs, targets and parameters only), one sample.")
        lines += [f"dC_d{name} = {text(expr)}" for name, expr in d.expanded().items()]
    if cse:
        replacements, reduced = d.expanded(cse=True)
        lines.append("# Fully expanded after common-subexpression elimination, one sample.")
        lines += [f"{sym} = {text(expr)}" for sym, expr in replacements]
        lines += [f"dC_d{name} = {text(expr)}" for name, expr in reduced.items()]
    return "\n".join(lines)


def combined_lhs(d) -> str:
    """``dC_dZ2 = dC_dA2 * dA2_dZ2``: what the output layer's collapse stands for."""
    last = d.network.nodes[-1].site
    return f"{naming.grad(last.ins[0])} = {naming.grad(last.out)} * {naming.local(last.out, last.ins[0])}"


OWN_WAY = ("window", "gather", "rows", "stack", "sdot", "causal", "recur")  # forward ops the other lines do not define


def windows_read(d) -> list:
    """The forward steps that a layer makes its own way — an image's windows the backward reads again
    (``patches1 = window_3×3(X, ...)``), an embedding's columns, an attention head's queries, keys and values,
    scores and mix: shown, so that every name the matrix form uses is defined."""
    read = {k for s in d.steps for k in refs(s.rhs)}
    return [s for s in d.program.role("forward") if s.expr.op in OWN_WAY and (s.key in read or s.expr.op != "window")]


def uncomposed(d) -> str:
    """Why the chain rule is not written out parameter by parameter, and where the derivation is instead."""
    from ..derive.derivation import COMPOSE_LIMIT
    from ..derive.sweep import route_factors

    return (f"Chain rule per parameter and composed forms: not written out ({route_factors(d.network):,} factors, over "
            f"{COMPOSE_LIMIT:,}; they grow with the square of the depth and double with each residual connection). "
            "The matrix form, layer by layer, is the whole derivation.")


def render_json(d, expanded: bool = False, entries: bool = False, cse: bool = False) -> dict:
    """``{"spec", "cost", "local", "gradients", ...}``.

    Every scalar expression (``local``, ``output_forms``, ``combined``, ``gradients``, ``entries``, ``expanded``,
    ``cse``) parses back with ``sympify``, given ``functions``: each function they use that SymPy does not know,
    defined in SymPy's terms.  ``matrix`` holds, per step, ``display`` (the matrix notation with ⊙ and ᵀ, for
    reading, not parsing), ``shape`` and ``tree``: the expression as plain data (``matexpr.tree``).
    """
    from ..derive.lower import ENTRY_LIMIT

    shown: list = []

    def show(expr) -> str:
        shown.append(expr)
        if isinstance(expr, sp.MatrixBase):  # an LSTM's four gates: a column that parses back as a SymPy Basic
            return f"ImmutableMatrix({[[str(v) for v in row] for row in expr.tolist()]})".replace("'", "")
        return str(expr)

    out = {
        "spec": d.network.spec,
        "cost": d.cost.name,
        "l2": d.network.l2,
        "local": {n: show(ld.expr) for n, ld in d.local.items()},
        "output_forms": {n: show(e) for n, e in d.output_forms.items()},
    }
    if d.combined is not None:
        out["combined"] = {str(naming.grad(d.network.nodes[-1].site.ins[0])): show(d.combined)}
    if d.is_scalar and d.composed:
        out["gradients"] = {p: show(c.expr) for p, c in d.chains.items()}
    elif d.network.n_params <= ENTRY_LIMIT and d.composed and not d.network.has_images:
        out["gradients"] = {n: show(e) for n, e in d.entries.gradients.items()}
    else:
        out["gradients"] = {}
    if d.composed:
        out["chains"] = {p: list(c.factors) for p, c in d.chains.items()}
    else:
        out["chains_omitted"] = uncomposed(d)
    if d.closed_forms:
        out["closed_forms"] = [{"form": form, "proof": proof} for form, proof in d.closed_forms]
    if d.composed and any(len(c.routes) > 1 for c in d.chains.values()):  # a residual connection: every path
        out["paths"] = {p: [list(r) for r in c.routes] for p, c in d.chains.items()}
    out["matrix"] = {s.lhs: {"display": to_text(s.rhs), "shape": list(s.shape), "tree": tree(s.rhs)}
                     for s in d.steps}
    if entries:
        out["entries"] = {"backward": {str(lhs): show(rhs) for lhs, rhs in d.entries.backward},
                          "gradients": {n: show(e) for n, e in d.entries.gradients.items()}}
    if expanded:
        out["expanded"] = {n: show(sp.sympify(e)) for n, e in d.expanded().items()}
    if cse:
        replacements, reduced = d.expanded(cse=True)
        out["cse"] = {"replacements": [[str(s), show(e)] for s, e in replacements],
                      "gradients": {n: show(e) for n, e in reduced.items()}}
    out["functions"] = _functions(shown)
    return out


def _functions(exprs) -> dict[str, str]:
    """``{"logistic": "Lambda(x, 1/(1 + exp(-x)))"}``: each function in ``exprs`` that is not SymPy's own, rewritten
    in SymPy's terms (and each indexed value, ``"X": "IndexedBase('X')"``), so that
    ``sympify(text, locals={k: sympify(v) for k, v in functions.items()})`` parses every entry."""
    x = sp.Symbol("x")
    found = {f.func for e in exprs for f in sp.sympify(e).atoms(sp.Function)}
    # an image network's per-entry rules index whole values (X[i, a + y - 1, b + x - 1]): each base is defined too
    out = {str(i.base): f"IndexedBase({str(i.base)!r})" for e in exprs for i in sp.sympify(e).atoms(sp.Indexed)}
    for cls in sorted(found, key=lambda c: c.__name__):
        if getattr(sp, cls.__name__, None) is cls:
            continue  # SymPy's own (exp, Heaviside, Max, ...)
        body = cls(x).rewrite(sp.exp)
        if body.has(cls):  # pragma: no cover - a function symbackprop defines without a rewrite
            raise ValueError(f"{cls.__name__} has no definition in SymPy's terms")
        out[cls.__name__] = str(sp.Lambda(x, body))
    return out


RENDERERS.register("text", render_text)
RENDERERS.register("json", render_json)
