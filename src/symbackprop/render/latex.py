"""LaTeX (an ``align`` block) and Markdown (``$$`` math) renderings of a derivation."""

from __future__ import annotations

from sympy.printing.latex import LatexPrinter

from .. import naming
from ..matexpr import M, render
from ..registry import RENDERERS
from .text import windows_read


class MathPrinter(LatexPrinter):
    """SymPy's LaTeX printer with symbackprop's names and ``[Z_1 > 0]`` for the step function."""

    def _print_Symbol(self, expr, style="plain"):
        return naming.latex_name(expr.name)

    def _print_Heaviside(self, expr, exp=None):
        return rf"\left[{self._print(expr.args[0])} > 0\right]"

    def _print_logistic(self, expr, exp=None):
        return rf"\sigma\left({self._print(expr.args[0])}\right)"


def latex(expr) -> str:
    return MathPrinter().doprint(expr)


def tensor_latex(x: M, args: list[str]) -> str:
    """A tensor op in LaTeX: a contraction in index notation, windows with their kernel, stride and padding."""
    if x.op == "contract":
        ins, out = x.attr("subscripts").split("->")
        letters = ins.split(",")
        summed = "".join(dict.fromkeys(c for c in "".join(letters) if c not in out))
        terms = r"\,".join(rf"\left({a}\right)_{{{i}}}" for a, i in zip(args, letters))
        total = rf"\textstyle\sum_{{{summed}}} " if summed else ""
        return rf"{total}{terms} \to [{out}]"
    if x.op in ("window", "unwindow"):
        (kh, kw), s, p = x.attr("k"), x.attr("stride"), x.attr("pad")
        return rf"\operatorname{{{x.op}}}_{{{kh}\times {kw}}}\left({args[0]};\ s{{=}}{s},\ p{{=}}{p}\right)"
    shape = r"\times ".join(map(str, x.shape))
    extra = rf",\ {shape}" if x.op in ("reshape", "expand") else ""
    return rf"\operatorname{{{x.op}}}\left({', '.join(args)}{extra}\right)"


_OPS = {"T": "{{{}}}^{{\\mathsf{{T}}}}", "dot": " \\cdot ", "had": " \\odot ", "add": " + ", "sub": " - ",
        "fn": "\\operatorname{{{name}}}({})", "colsum": "\\textstyle\\sum({})", "colmax": "\\max({})",
        "bmean": "\\operatorname{{mean}}_{{\\text{{batch}}}}({})",
        "ones": "1", "const": "{:g}", "tensor": tensor_latex}


def mat_latex(x: M) -> str:
    """A matrix expression in LaTeX: ``{W_{2}}^{\\mathsf{T}} \\cdot \\frac{...}{...}``."""
    return render(x, naming.latex_name, _OPS)


def _times(shape) -> str:
    return r"\times ".join(map(str, shape))


def equations(d, entries: bool = False, expanded: bool = False, cse: bool = False) -> list[tuple[str, str, str]]:
    """``(section, lhs, rhs)`` LaTeX triples for every equation of the derivation."""
    if entries or expanded or cse:
        d.network.require_matrices("the per-entry form (--entries, --expanded, --cse)")
    rows = []
    for ld in d.local.values():
        rows.append(("Local derivatives", naming.latex_name(ld.name), latex(ld.expr)))
    for name, expr in d.output_forms.items():
        rows.append(("Output forms", naming.latex_name(name), latex(expr)))
    if d.combined is not None:
        lhs = naming.grad(d.network.nodes[-1].site.ins[0])
        rows.append(("Output layer with its cost", naming.latex_name(lhs), latex(d.combined)))
    for c in d.chains.values() if d.composed else ():
        prod = " + ".join(r" \cdot ".join(naming.latex_name(f) for f in route) for route in c.routes)
        rhs = prod + (f" = {latex(c.expr)}" if d.is_scalar else "")
        rows.append(("Chain rule", naming.latex_name(c.name), rhs))
    for step in windows_read(d):
        rows.append(("Windows the backward pass reads", naming.latex_name(step.lhs),
                     rf"{mat_latex(step.rhs)} \quad ({_times(step.shape)})"))
    for step in d.steps:
        rows.append(("Matrix form", naming.latex_name(step.lhs),
                     rf"{mat_latex(step.rhs)} \quad ({_times(step.shape)})"))
    if entries:
        for name, expr in d.entries.gradients.items():
            rows.append(("Per-entry gradients", _grad_latex(name), latex(expr)))
    if expanded:
        for name, expr in d.expanded().items():
            rows.append(("Fully expanded", _grad_latex(name), latex(expr)))
    if cse:
        replacements, reduced = d.expanded(cse=True)
        rows += [("Common subexpressions", latex(sym), latex(expr)) for sym, expr in replacements]
        rows += [("After elimination", _grad_latex(name), latex(expr)) for name, expr in reduced.items()]
    return rows


def _grad_latex(entry: str) -> str:
    """∂C/∂(entry) for a parameter entry's name that symbackprop created."""
    known = naming.meaning(entry)
    return naming.latex_of(naming.grad(known[0]), known[1]) if known else naming.latex_name(entry)


def render_latex(d, entries: bool = False, expanded: bool = False, environment: str = "align",
                 cse: bool = False) -> str:
    body = " \\\\\n".join(f"{lhs} &= {rhs}" for _, lhs, rhs in equations(d, entries, expanded, cse))
    return f"\\begin{{{environment}}}\n{body}\n\\end{{{environment}}}"


def render_markdown(d, entries: bool = False, expanded: bool = False, cse: bool = False) -> str:
    out = [f"# Backpropagation of `{d.network.spec}` with cost `{d.cost.name}`", "",
           "Layer symbols stand for whole vectors; ⊙ is the elementwise product. "
           "At a ReLU kink the derivative takes its left-hand value (relu'(0) = 0).", ""]
    section = None
    for sec, lhs, rhs in equations(d, entries, expanded, cse):
        if sec != section:
            out += [f"## {sec}", ""]
            section = sec
        out += [f"$$ {lhs} = {rhs} $$", ""]
    return "\n".join(out).rstrip() + "\n"


RENDERERS.register("latex", render_latex)
RENDERERS.register("markdown", render_markdown)
