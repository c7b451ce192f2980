"""The report: one self-contained HTML file (MathML and inline SVG, no JavaScript) or Markdown."""

from __future__ import annotations

import html
import json

import numpy as np
import sympy as sp

from .. import naming
from ..activations import a as a_sym
from ..backends import numpy_module
from ..costs import y as y_sym
from ..draws import random_problem
from ..matexpr import dims
from ..registry import RENDERERS
from . import charts, mathml, svg
from .latex import latex, render_markdown
from .text import uncomposed, windows_read

RELU_POLICY = ("At a kink (a ReLU pre-activation of exactly 0) the derivative takes its left-hand value, as "
               "PyTorch does: relu′(0) = 0 and leaky_relu′(0) = 0.01.")

CSS = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { padding: .3em .8em; border-bottom: 1px solid #eee;
 text-align: left; vertical-align: middle; }
.edge { font-size: 14px; } .note { color: #555; } figure { margin: 1em 0; overflow-x: auto; }
math[display="block"] { margin: .3em 0; }
math { font-family: "Latin Modern Math", "STIX Two Math", "Cambria Math", math; }
"""


DRAWS = 50  # random weights and samples a spec-only report's example is chosen from


def worked_example(derivation, params=None, x=None, y=None, seed: int = 0) -> dict:
    """One sample pushed through: every step of the Program at it (its generated ``trace``).

    Without ``params``, weights and sample are drawn at random, seeds ``seed`` to ``seed + 49``, and the draw with
    the most ReLU-like units active is worked (an inactive unit zeroes its gradients); ``why`` says which.
    """
    net = derivation.network
    best = None
    for attempt in range(1 if params is not None else DRAWS):
        rng = np.random.default_rng(seed + attempt)
        p0, x0, y0 = random_problem(net, rng, 1)
        p0.update({q.name: p0[q.name] / np.sqrt(q.fans[0]) if q.matrix else p0[q.name] * 0.1 for q in net.params})
        active, total = _active(derivation, p0, x0 if x is None else x)
        if best is None or active > best[0]:
            best = (active, total, attempt, p0, x0, y0)
        if active == total:
            break
    active, total, attempt, p0, x0, y0 = best
    why = ""
    if params is None and total:
        why = (f"Random weights and sample (seed {seed + attempt}): "
               + (f"the first draw where every one of the {total} ReLU units is active" if active == total else
                  f"of {DRAWS} draws, the one where the most ReLU units are active ({active} of {total})")
               + ", so that the gradients below are not mostly zero.")
    params = {k: np.asarray(v, dtype=float) for k, v in (params or p0).items()}
    params.update({str(k): p0[str(k)] for k, _ in net.masks if str(k) not in params})  # dropout masks, drawn
    x = x0 if x is None else np.asarray(x, dtype=float).reshape(-1, 1)
    y = y0 if y is None else np.asarray(y, dtype=float).reshape(-1, 1)
    return {"params": params, "x": x, "y": y, "values": numpy_module(derivation).trace(params, x, y), "why": why}


def choose_sample(derivation, params, candidates: np.ndarray, describe) -> tuple[int, str]:
    """The index of the candidate column (scaled inputs) to work an example on, and a sentence saying why.

    First, the most units of ReLU-like layers active (an inactive one zeroes gradients), then no input of 0 (it
    zeroes its weights' gradients), then, for a classifier, the answer it is least sure of (a confident answer
    has vanishingly small gradients).  ``describe(k)`` names candidate k.
    """
    values = numpy_module(derivation).forward(params, candidates)
    gated = [str(node.site.ins[0]) for node in derivation.network.nodes if getattr(node.layer, "dead_left", False)]
    n = candidates.shape[1]
    active = sum(((values[key].reshape(-1, n) > 0).sum(axis=0) for key in gated), np.zeros(n, dtype=int))
    total = sum(values[key].reshape(-1, n).shape[0] for key in gated)
    nonzero = (candidates != 0).sum(axis=0)
    out = values[str(derivation.program.output.key)]
    kind = getattr(derivation.network.output.activation, "outputs", "")
    sure = np.abs(out - 0.5).max(axis=0) if kind == "probability" else out.max(axis=0) if kind == "distribution" \
        else np.zeros(n)
    key = np.lexsort((sure, -nonzero, -active))  # the best first: most active, fewest zeros, least sure
    best = int(key[0])
    reasons = []
    if total:
        reasons.append(f"every one of the {total} ReLU units is active" if active[best] == total else
                       f"the most ReLU units are active ({int(active[best])} of {total}; none has them all)")
    if nonzero[best] == candidates.shape[0]:
        reasons.append("no input is 0")
    if kind in ("probability", "distribution"):
        p = float(sure[best] + 0.5) if kind == "probability" else float(sure[best])
        reasons.append(f"the network is least sure of its answer (p = {p:.2f})")
    why = ", ".join(reasons[:-1]) + (" and " if len(reasons) > 1 else "") + reasons[-1] if reasons else ""
    return best, (f"The sample is {describe(best)}" + (f": of {n} candidates, one where {why}, so that the "
                                                        "gradients below are neither zero nor vanishingly small."
                                                        if why else "."))


def _active(derivation, params, x) -> tuple[int, int]:
    """(active, all) units whose activation learns nothing below 0 (ReLU) at ``x``."""
    values = numpy_module(derivation).forward(params, np.asarray(x, dtype=float).reshape(-1, 1))
    gated = [values[str(node.site.ins[0])] for node in derivation.network.nodes
             if getattr(node.layer, "dead_left", False)]
    return int(sum((v > 0).sum() for v in gated)), int(sum(v.size for v in gated))


def _row(cells: list[str]) -> str:
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def derivation_html(d) -> str:
    """Section 2: local derivatives (raw and output form), chains, the matrix form, the ReLU policy."""
    out = [f'<p class="note">{RELU_POLICY} Layer symbols stand for whole vectors; ⊙ is the elementwise '
           "product; shapes are per sample.</p>", "<h3>Local derivatives</h3><table>",
           _row(["<b>derivative</b>", "<b>derived by SymPy</b>", "<b>output form (used in code)</b>"])]
    for ld in d.local.values():
        form = mathml.math(mathml.expr(ld.output_form), False) if ld.output_form is not None else ""
        out.append(_row([mathml.math(mathml.name(ld.name), False, ld.name),
                         mathml.math(mathml.expr(ld.expr), False), form]))
    out.append("</table>")
    if d.combined is not None:
        out.append(f"<p>With {d.cost.name} on a {d.network.output.activation.name} output the two output factors "
                   "collapse (SymPy checks it):</p>")
        out.append(mathml.equation(mathml.name(naming.grad(d.network.nodes[-1].site.ins[0])),
                                   mathml.expr(d.combined)))
    out.append("<h3>Chain rule, parameter by parameter</h3>")
    if not d.composed:
        out.append(f"<p>{html.escape(uncomposed(d))}</p>")
    for c in d.chains.values() if d.composed else ():
        factors = "<mo>+</mo>".join("<mo>·</mo>".join(mathml.name(f) for f in route) for route in c.routes)
        rhs = factors + (f"<mo>=</mo>{mathml.expr(c.expr)}" if d.is_scalar else "")
        out.append(mathml.equation(mathml.name(c.name), rhs, label=c.name))
        out.append(mathml.equation(mathml.name(c.name), mathml.matrix_expr(c.matrix) +
                                   f"<mspace width='1em'/><mtext>({dims(c.shape)})</mtext>"))
    windows = windows_read(d)
    if windows:
        out.append("<h3>Forward values the backward pass reads again, made each layer's own way</h3>")
    for step in windows:
        out.append(mathml.equation(mathml.name(step.lhs), mathml.matrix_expr(step.rhs) +
                                   f"<mspace width='1em'/><mtext>({dims(step.shape)})</mtext>", label=step.lhs))
    out.append("<h3>Matrix form, layer by layer</h3>")
    for step in d.steps:
        out.append(mathml.equation(mathml.name(step.lhs), mathml.matrix_expr(step.rhs) +
                                   f"<mspace width='1em'/><mtext>({dims(step.shape)})</mtext>", label=step.lhs))
    forms = d.closed_forms
    if forms:
        out.append("<h3>Closed forms the layers compute, and their proofs</h3><ul>")
        out += [f"<li>{html.escape(form)}<br><span class=\"note\">{html.escape(proof)}</span></li>"
                for form, proof in forms]
        out.append("</ul>")
    return "\n".join(out)


GREEK = {"beta1": "β₁", "beta2": "β₂", "epsilon": "ε", "lambda": "λ", "mu": "μ", "alpha": "α"}


def _update_rule(optimizer, greek: bool = True) -> list[tuple]:
    """(target, expression) of each assignment of the optimizer's rule, for a parameter P and its state m_P, ...;
    the hyperparameters as Greek letters (``greek``) or as SymPy's LaTeX names them."""
    from ..optimizers import p as param

    names = {param: sp.Symbol("P"), **{sp.Symbol(k, real=True): sp.Symbol(f"{k}_P") for k in optimizer.state}}
    if greek:
        names.update({sp.Symbol(k, positive=True): sp.Symbol(v) for k, v in GREEK.items()})
    return [(names.get(k, k), e.xreplace(names)) for k, e in optimizer.equations()]


def update_html(optimizer) -> str:
    """The update after each step's gradients, beside the derivation: the rule's equations in order."""
    out = [f"<h3>The update: {html.escape(optimizer.summary())}</h3>",
           '<p class="note">After each step, for every learned parameter P with g its mean gradient (dC/dP over '
           "the batch) at step t = 1, 2, …; the state starts at 0. Each line is printed into the generated "
           "step as it stands.</p>"]
    for target, e in _update_rule(optimizer):
        out.append(mathml.math(f"<mrow>{mathml.expr(target)}<mo>←</mo>{mathml.expr(e)}</mrow>", True,
                               f"{target} ← {e}"))
    out += [f'<p class="note">{html.escape(line)}</p>' for line in optimizer.text().splitlines()[1:]
            if line.startswith(("(", "first:"))]
    return "\n".join(out)


def example_html(d, ex: dict) -> str:
    """Section 3: the worked example, each number beside its equation; gradients carry ``data-`` values."""
    v, net = ex["values"], d.network
    out = [f'<p class="note">{html.escape(ex["why"])}</p>'] if ex.get("why") else []
    x = ex["x"].reshape(*net.image, 1) if net.image else ex["x"]  # an image shown as its channels
    out += ['<p class="note">One sample: ' + mathml.math(mathml.name(naming.INPUT) + "<mo>=</mo>" +
                                                        mathml.array(x), False) +
           ", target " + mathml.math(mathml.name(naming.TARGET) + "<mo>=</mo>" + mathml.array(ex["y"]), False) +
           ".</p>", "<h3>Forward pass</h3><table>"]
    for step in d.program.role("forward"):
        out.append(_row([mathml.math(f"{mathml.name(step.key)}<mo>=</mo>{mathml.matrix_expr(step.rhs)}", False),
                         mathml.math(f"<mo>=</mo>{mathml.array(v[step.lhs])}", False)]))
    cost_expr = d.cost.expr.subs({a_sym: naming.symbol(d.program.output.key), y_sym: naming.symbol(naming.Y)},
                                 simultaneous=True)
    out.append(_row([mathml.math(f"{mathml.name(naming.COST)}<mo>=</mo>" + mathml.expr(cost_expr), False), mathml.math(
        f"<mo>=</mo>{mathml.array(v[naming.COST])}", False)]))
    out.append("</table><h3>Local derivatives at this sample</h3><table>")
    for name, ld in d.local.items():
        if name in v:
            out.append(_row([mathml.math(f"{mathml.name(name)}<mo>=</mo>{mathml.expr(ld.expr)}", False),
                             mathml.math(f"<mo>=</mo>{mathml.array(v[name])}", False)]))
    out.append("</table><h3>The chain rule with these numbers</h3><table>")
    for step in d.steps:
        out.append(_row([mathml.math(f"{mathml.name(step.lhs)}<mo>=</mo>{mathml.matrix_expr(step.rhs)}", False),
                         mathml.math(f"<mo>=</mo>{mathml.array(v[step.lhs])}", False)]))
    out.append("</table><h3>Gradients</h3><table>")
    for q in net.params:
        p, g = q.name, v[str(naming.grad(q.key))]
        data = html.escape(json.dumps(np.asarray(g).tolist())) if np.size(g) <= 4096 else ""
        out.append(f'<tr class="gradient" data-name="{p}" data-values="{data}"><td>'
                   f'{mathml.math(mathml.name(naming.grad(q.key)), False)}</td><td>'
                   f'{mathml.math("<mo>=</mo>" + mathml.array(g), False)}</td></tr>')
    out.append("</table>")
    if d.is_scalar and d.composed:
        for c in d.chains.values():
            nums = [v[f] for f in c.factors if f in v]
            if len(nums) == len(c.factors) and len(c.routes) == 1:
                prod = float(np.prod([float(np.ravel(n)[0]) for n in nums]))
                terms = "<mo>·</mo>".join(mathml.array(n) for n in nums)
                out.append(mathml.equation(mathml.name(c.name), f"{terms}<mo>=</mo>{mathml.number(prod)}"))
    return "\n".join(out)


def model_html(model, data=None) -> str:
    """Section 4: training curves, final metrics and a picture of what the model learned."""
    curves = charts.loss_curves(model.history, model.network.cost.name) if model.history else ""
    out = ["<h3>Training</h3>", f"<figure>{curves}</figure>" if curves else ""]
    if model.metrics:
        out.append("<table>" + "".join(_row([html.escape(k), f"{val:.4f}"]) for k, val in model.metrics.items())
                   + "</table>")
    if model.network.inputs == 3 and model.task == "binary" and model.scaling.kind == "scale":
        out.append("<h3>What it learned: the font colour it picks for each background</h3>")
        out.append(f"<figure>{svg.font_grid(model)}</figure>")
    elif model.network.inputs == 2:
        out.append("<h3>What it learned: decision regions over the two inputs</h3>")
        points = (data[0], data[3]) if data is not None and data[3] is not None else None
        out.append(f"<figure>{charts.decision_regions(model, points)}</figure>")
    return "\n".join(out)


def _optimizer_of(model, optimizer):
    """The optimizer to show: the one asked for, else the one a model was trained with (its checkpoint's)."""
    if optimizer is None and model is not None and getattr(model, "checkpoint", None) is not None:
        return model.checkpoint.optimizer()
    return optimizer


def render_html(d, model=None, seed: int = 0, data=None, optimizer=None) -> str:
    """The report; with a model, the worked example is a sample of ``data`` (raw rows, and a name for them) or
    of the training distribution, chosen where its units are active; with an ``optimizer`` (or a model trained
    with one), its update rule after the derivation."""
    net = d.network
    ex = _example(d, model, seed, data)
    optimizer = _optimizer_of(model, optimizer)
    update = update_html(optimizer) if optimizer is not None else ""
    sections = [
        f"<h1>Backpropagation of <code>{net.spec}</code> with cost <code>{net.cost.name}</code></h1>",
        '<section id="network"><h2>1. The network</h2>',
        f"<figure>{svg.network(net)}</figure>",
        "<p>The computational graph: each edge carries its local derivative.</p>",
        f"<figure>{svg.graph(d)}</figure></section>",
        f'<section id="derivation"><h2>2. The derivation</h2>{derivation_html(d)}{update}</section>',
        f'<section id="example"><h2>3. A worked example</h2>{example_html(d, ex)}</section>',
    ]
    if model is not None:
        sections.append(f'<section id="model"><h2>4. The trained model</h2>{model_html(model, data)}</section>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>symbackprop: {net.spec}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(sections) + "\n<p class=\"note\">Generated by symbackprop.</p></body></html>\n")


CANDIDATES = 256  # draws from the training distribution a model's example is chosen from


def _example(d, model, seed: int, data) -> dict:
    if model is None:
        return worked_example(d, seed=seed)
    from ..data import encode_targets

    rng = np.random.default_rng(seed)
    labels = None
    if data is not None:
        rows, name, numbers, labels = data
        rows = np.asarray(rows, dtype=float)[:4096]
        candidates = model.scaling.apply(rows).T
        k, why = choose_sample(d, model.params, candidates, lambda k: f"row {int(numbers[k])} of {name}")
    else:
        n = model.network.inputs
        if model.scaling.kind == "standardize":
            raw = np.asarray(model.scaling.mean) + rng.normal(size=(CANDIDATES, n)) * np.asarray(model.scaling.std)
        else:
            raw = rng.uniform(0, model.scaling.factor if model.scaling.kind == "scale" else 1.0, (CANDIDATES, n))
        candidates = model.scaling.apply(raw).T
        k, why = choose_sample(d, model.params, candidates,
                               lambda k: f"draw {k + 1} of {CANDIDATES} inputs like the training data's "
                                         "(give --data to pick from your rows)")
    if labels is not None and len(labels):  # the row's own target
        y = encode_targets(d.network, np.asarray(labels)[k:k + 1], model.classes)[0]
    elif model.classes:  # a class it knows, at random
        y = encode_targets(d.network, np.asarray([model.classes[rng.integers(len(model.classes))]]),
                           model.classes)[0]
    else:
        y = None
    ex = worked_example(d, model.params, seed=seed, x=candidates[:, k:k + 1], y=y)
    ex["why"] = why
    return ex


def render_report_markdown(d, model=None, seed: int = 0, data=None, optimizer=None) -> str:
    """The derivation (and the optimizer's update) and the worked example as Markdown with ``$$`` math."""
    ex = _example(d, model, seed, data)
    optimizer = _optimizer_of(model, optimizer)
    v = ex["values"]

    def arr(a) -> str:
        a = np.asarray(a, dtype=float)
        if a.ndim > 2:  # a tensor: its shape (the HTML report shows its matrices)
            return rf"\text{{({'×'.join(map(str, a.shape))} values)}}"
        a = np.atleast_2d(a)
        a = a + 0.0  # no "-0"
        if a.size == 1:
            return f"{float(a.ravel()[0]):.4g}"
        cut = mathml._cut
        rows = [" & ".join((r"\cdots" if j is None else f"{a[i, j]:.4g}") if i is not None else
                           (r"\vdots" if j is not None else r"\ddots") for j in cut(a.shape[1]))
                for i in cut(a.shape[0])]
        return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"

    out = [render_markdown(d).rstrip(), ""]
    if optimizer is not None:
        out += [f"## The update: {optimizer.summary()}", "", "For every learned parameter $P$ with $g$ its mean "
                "gradient at step $t$; the state starts at 0.", ""]
        out += [f"$$ {sp.latex(target)} \\leftarrow {sp.latex(e)} $$\n"
                for target, e in _update_rule(optimizer, greek=False)]
    out += ["## A worked example", ""] + ([ex["why"], ""] if ex.get("why") else [])
    out += [f"$$ X = {arr(ex['x'])}, \\quad Y = {arr(ex['y'])} $$", ""]
    for step in d.program.role("forward"):
        out += [f"$$ {naming.latex_name(step.key)} = {arr(v[step.lhs])} $$", ""]
    out += [f"$$ C = {arr(v[naming.COST])} $$", ""]
    for name, ld in d.local.items():
        if name in v:
            out += [f"$$ {naming.latex_name(name)} = {latex(ld.expr)} = {arr(v[name])} $$", ""]
    for step in d.steps:
        out += [f"$$ {naming.latex_name(step.lhs)} = {arr(v[step.lhs])} $$", ""]
    return "\n".join(out).rstrip() + "\n"


RENDERERS.register("html", derivation_html)
