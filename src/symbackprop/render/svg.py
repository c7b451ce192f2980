"""Inline SVG pictures: the layered network, the computational graph and the font-colour grid."""

from __future__ import annotations

import colorsys
import html

import numpy as np

from .. import naming
from . import mathml

_FONT = 'font-family="sans-serif"'


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(label)}">{body}</svg>')


def _layer_lines(layer) -> list[str]:
    """A layer's caption, one short line each: its norm and activation, dropout, residual."""
    lines = [" + ".join(([layer.norm] if layer.norm else []) + [layer.activation.name])]
    if layer.dropout:
        lines.append(f"dropout {layer.dropout:g}")
    if layer.residual:
        lines.append("residual")
    return lines


def network(net) -> str:
    """Inputs and every layer as a column of units (a wide layer as one box with its width); its caption below,
    a line for each of norm + activation, dropout and residual, then the width; a residual layer's skip drawn
    as a dashed arc below the units, from the layer before it."""
    if net.has_images:
        return _image_network(net)
    widths = net.widths()
    captions = [["input"]] + [_layer_lines(layer) for layer in net.layers]
    col, top, height = 150, 40, 260
    width = col * len(widths) + 40
    body, centres = [], []
    for k, n in enumerate(widths):
        x = 70 + k * col
        if n <= 8:
            ys = [top + 20 + (i + 0.5) * (height - 40) / n for i in range(n)]
            centres.append([(x, y) for y in ys])
        else:
            centres.append([(x, top + height / 2)])
    for k in range(1, len(centres)):
        for x0, y0 in centres[k - 1]:
            for x1, y1 in centres[k]:
                body.append(f'<line x1="{x0}" y1="{y0:.1f}" x2="{x1}" y2="{y1:.1f}" stroke="#bbb"/>')
    below = top + height  # the skips arc in the band under the units; the captions start under it
    for k, layer in enumerate(net.layers, start=1):
        if layer.residual:
            x0, x1 = 70 + (k - 1) * col, 70 + k * col
            body.append(f'<path class="skip" d="M{x0},{below - 12} Q{(x0 + x1) / 2},{below + 34} {x1},{below - 12}" '
                        f'fill="none" stroke="#c0392b" stroke-width="2" stroke-dasharray="6 4">'
                        f'<title>{naming.act(k - 1)} added to layer {k}\'s output (residual)</title></path>')
    for k, (n, lines) in enumerate(zip(widths, captions)):
        x = 70 + k * col
        fill = "#e8f0fe" if k == 0 else ("#fde8e8" if k == len(widths) - 1 else "#e8f7ec")
        if n <= 8:
            for _, y in centres[k]:
                body.append(f'<circle cx="{x}" cy="{y:.1f}" r="14" fill="{fill}" stroke="#333"/>')
        else:
            body.append(f'<rect x="{x - 30}" y="{top + 20}" width="60" height="{height - 40}" rx="10" '
                        f'fill="{fill}" stroke="#333"/>')
            body.append(f'<text x="{x}" y="{top + height / 2 + 5}" text-anchor="middle" {_FONT} '
                        f'font-size="14">{n}</text>')
        title = str(naming.act(k))
        body.append(f'<text x="{x}" y="{top}" text-anchor="middle" {_FONT} font-size="15" '
                    f'font-weight="bold">{title}</text>')
        for i, line in enumerate([*lines, f"{n} unit{'s' if n != 1 else ''}"]):
            body.append(f'<text x="{x}" y="{below + 40 + 16 * i}" text-anchor="middle" {_FONT} font-size="13">'
                        f'{html.escape(line)}</text>')
    rows = 1 + max(len(lines) for lines in captions)
    return _svg(width, below + 40 + 16 * rows, "".join(body), f"the network {net.spec}")


def _image_network(net) -> str:
    """An image or token network as a row of boxes: the input and each layer, named by its output, with its
    shape."""
    shapes = {node.site.out: node.site.shape for node in net.nodes}
    columns = [("X", "token ids" if net.vocab else "input", net.input_shape)]
    node_outs = iter(net.nodes)
    for layer in net.layers:
        keys = [out for _, out, _ in layer.nodes(0, naming.X)]
        last = None
        for _ in keys:
            last = next(node_outs).site.out
        columns.append((str(last), layer.token, shapes[last]))
    col, top, height = 150, 40, 200
    body = []
    for k, (title, label, shape) in enumerate(columns):
        x = 70 + k * col
        fill = "#e8f0fe" if k == 0 else ("#fde8e8" if k == len(columns) - 1 else "#e8f7ec")
        if k:
            body.append(f'<line x1="{x - col + 30}" y1="{top + height / 2}" x2="{x - 30}" y2="{top + height / 2}" '
                        'stroke="#888" marker-end="url(#arrow)"/>')
        dims = "×".join(map(str, shape[:-1]))
        body.append(f'<rect x="{x - 30}" y="{top + 20}" width="60" height="{height - 40}" rx="10" fill="{fill}" '
                    'stroke="#333"/>')
        body.append(f'<text x="{x}" y="{top + height / 2 + 5}" text-anchor="middle" {_FONT} font-size="13">'
                    f'{html.escape(dims)}</text>')
        body.append(f'<text x="{x}" y="{top}" text-anchor="middle" {_FONT} font-size="15" font-weight="bold">'
                    f'{html.escape(title)}</text>')
        body.append(f'<text x="{x}" y="{top + height + 10}" text-anchor="middle" {_FONT} font-size="12">'
                    f'{html.escape(label)}</text>')
    arrow = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
             'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>')
    return _svg(col * len(columns) + 40, top + height + 30, arrow + "".join(body), f"the network {net.spec}")


def _node(x, y, label, fill="#fff") -> str:
    return (f'<ellipse cx="{x}" cy="{y}" rx="28" ry="18" fill="{fill}" stroke="#333"/>'
            f'<text x="{x}" y="{y + 5}" text-anchor="middle" {_FONT} font-size="15">{label}</text>')


def _label(x, y, w, h, inner) -> str:
    return (f'<foreignObject x="{x}" y="{y}" width="{w}" height="{h}" overflow="visible">'
            f'<div xmlns="http://www.w3.org/1999/xhtml" class="edge">{inner}</div></foreignObject>')


def graph(derivation) -> str:
    """X → Z1 → A1 → ... → C with each layer's parameters feeding in; each edge carries its local derivative.

    A residual connection's skip edge (A_prev to the sum) arcs below the chain, with its own local derivative.
    """
    nodes = derivation.network.nodes
    mid = 170
    chain = [naming.X] + [node.site.out for node in nodes] + [naming.C]
    has_params = {node.site.out for node in nodes if node.site.params}
    pos, x = {}, 60
    for k, key in enumerate(chain):
        if k:
            x += 300 if key in has_params and chain[k - 1] in has_params else 150
        pos[key] = (x, mid)
    width = x + 80
    body = ['<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>']
    last = nodes[-1].site.out
    edges = [(last, naming.C, naming.grad(last), "below"), (naming.Y, naming.C, None, "right")]
    params, inputs = set(), set()
    for node in nodes:
        site = node.site
        for src, need in zip(site.ins, site.needs_grad):
            if src not in chain:  # an input such as a dropout mask: below the node it feeds, like Y below C
                pos[src] = (pos[site.out][0], mid + 110)
                inputs.add(src)
                edges.append((src, site.out, None, "right"))
                continue
            skip = chain.index(site.out) - chain.index(src) > 1
            edges.append((src, site.out, naming.local(site.out, src) if need else None, "skip" if skip else "below"))
        x = pos[site.out][0]
        offsets = [0] if len(site.params) == 1 else [-45 + 90 * k / (len(site.params) - 1)
                                                      for k in range(len(site.params))]
        for q, dx in zip(site.params, offsets):
            pos[q.key] = (x + dx, mid - 110)
            params.add(q.key)
            edges.append((q.key, site.out, naming.local(site.out, q.key), "left" if dx <= 0 else "right"))
    pos[naming.Y] = (pos[naming.C][0], mid + 110)
    for a, b, local, where in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        if where == "skip":
            body.append(f'<path d="M {x0:.1f} {y0 + 18} Q {(x0 + x1) / 2:.1f} {y0 + 190} {x1:.1f} {y1 + 18}" '
                        'fill="none" stroke="#555" stroke-dasharray="5 3" marker-end="url(#arrow)"/>')
        else:
            dx, dy = x1 - x0, y1 - y0
            dist = (dx * dx + dy * dy) ** 0.5
            sx, sy, ex, ey = x0 + dx / dist * 28, y0 + dy / dist * 18, x1 - dx / dist * 28, y1 - dy / dist * 18
            body.append(f'<line x1="{sx:.1f}" y1="{sy:.1f}" x2="{ex:.1f}" y2="{ey:.1f}" stroke="#555" '
                        f'marker-end="url(#arrow)"/>')
        ld = derivation.local.get(str(local)) if local is not None else None
        if ld is not None:
            rhs = (mathml.expr(ld.expr) if len(str(ld.expr)) <= 40 else
                   "<mtext>its Jacobian (§2)</mtext>")
            math = mathml.equation(mathml.name(local), rhs, display=False, label=str(local))
            if where == "skip":
                body.append(_label((x0 + x1) / 2 - 70, y0 + 100, 140, 40, math))
            elif where == "below":
                body.append(_label((x0 + x1) / 2 - 70, y0 + 22, 140, 90, math))
            elif where == "left":
                body.append(_label(x0 - 100, (y0 + y1) / 2 - 24, 92, 60, math))
            else:
                body.append(_label(x0 + 8, (y0 + y1) / 2 - 24, 92, 60, math))
    colours = {naming.C: "#fde8e8", naming.X: "#e8f0fe", naming.Y: "#e8f0fe"}
    for k, (x, y) in pos.items():
        fill = colours.get(k, "#fff8e1" if k in params else "#e8f0fe" if k in inputs else "#fff")
        shown = _GREEK.get(k.base, k.base) + ("" if k.layer is None else str(k.layer))
        body.append(_node(x, y, html.escape(shown), fill))
    return _svg(width, mid + 150, "".join(body), "the computational graph with each local derivative")


_GREEK = {"gamma": "γ", "beta": "β"}


def font_grid(model, cols: int = 10, rows: int = 6) -> str:
    """Background colours, each with sample text in the font colour the model predicts, and its probability."""
    colours = []
    for r in range(rows):
        for c in range(cols):
            light = 0.15 + 0.7 * r / (rows - 1)
            rgb = colorsys.hls_to_rgb(c / cols, light, 0.85)
            colours.append([round(v * 255) for v in rgb])
    rgb = np.array(colours, dtype=float)
    p = model.predict_proba(rgb)[:, 0]
    size, body = 64, []
    for k, ((red, green, blue), prob) in enumerate(zip(rgb.astype(int), p)):
        x, y = (k % cols) * size, (k // cols) * size
        ink = "#000" if prob >= 0.5 else "#fff"
        body.append(f'<rect x="{x}" y="{y}" width="{size}" height="{size}" fill="rgb({red},{green},{blue})"/>')
        body.append(f'<text x="{x + size / 2}" y="{y + 30}" text-anchor="middle" fill="{ink}" {_FONT} '
                    f'font-size="20" font-weight="bold">Aa</text>')
        sure = prob if prob >= 0.5 else 1 - prob  # the probability of the font colour shown
        body.append(f'<text x="{x + size / 2}" y="{y + 50}" text-anchor="middle" fill="{ink}" {_FONT} '
                    f'font-size="11">p={sure:.2f}</text>')
    return _svg(cols * size, rows * size, "".join(body), "predicted font colour on each background")
