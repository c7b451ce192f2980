"""Charts with real axes as inline SVG: the loss curves and a 2-input model's decision regions."""

from __future__ import annotations

import html
import math

import numpy as np

FONT = 'font-family="sans-serif"'
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7"]


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(label)}">{body}</svg>')


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi]."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + k * step, 12) for k in range(int((hi - first) / step + 1e-9) + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Decades within [lo, hi]; 2 and 5 times them too when the range spans fewer than two decades."""
    out = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in ((1,) if math.log10(hi / lo) >= 2 else (1, 2, 5)):
            v = m * 10.0 ** e
            if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                out.append(v)
    return out or [lo, hi]


def _label(v: float) -> str:
    return f"{v:g}" if 1e-3 <= abs(v) < 1e5 or v == 0 else f"{v:.0e}"


class Axes:
    """A plotting area with a linear x axis, a linear or log y axis, ticks, tick labels and axis titles."""

    def __init__(self, width, height, xlim, ylim, log_y=False, left=70, right=20, top=20, bottom=50):
        self.width, self.height, self.log_y = width, height, log_y
        self.left, self.right, self.top, self.bottom = left, right, top, bottom
        self.xlim, self.ylim = xlim, ylim
        self.body: list[str] = []

    def x(self, v):
        lo, hi = self.xlim
        return self.left + (np.asarray(v, dtype=float) - lo) / ((hi - lo) or 1) * (self.width - self.left - self.right)

    def y(self, v):
        lo, hi = (np.log10(self.ylim[0]), np.log10(self.ylim[1])) if self.log_y else self.ylim
        v = np.log10(v) if self.log_y else np.asarray(v, dtype=float)
        return self.top + (hi - v) / ((hi - lo) or 1) * (self.height - self.top - self.bottom)

    def frame(self, xlabel: str, ylabel: str, background="#fafafa") -> None:
        w, h = self.width - self.left - self.right, self.height - self.top - self.bottom
        self.body.append(f'<rect x="{self.left}" y="{self.top}" width="{w}" height="{h}" fill="{background}" '
                         'stroke="#999"/>')
        base = self.height - self.bottom
        for v in nice_ticks(*self.xlim):
            x = float(self.x(v))
            self.body.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 5}" stroke="#555"/>'
                             f'<text x="{x:.1f}" y="{base + 18}" text-anchor="middle" {FONT} font-size="11">'
                             f'{_label(v)}</text>')
        ticks = log_ticks(*self.ylim) if self.log_y else nice_ticks(*self.ylim)
        for v in ticks:
            y = float(self.y(v))
            self.body.append(f'<line x1="{self.left - 5}" y1="{y:.1f}" x2="{self.left}" y2="{y:.1f}" stroke="#555"/>'
                             f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.width - self.right}" y2="{y:.1f}" '
                             f'stroke="#e4e4e4"/><text x="{self.left - 8}" y="{y + 4:.1f}" text-anchor="end" '
                             f'{FONT} font-size="11">{_label(v)}</text>')
        self.body.append(f'<text x="{self.left + w / 2:.1f}" y="{self.height - 10}" text-anchor="middle" {FONT} '
                         f'font-size="12">{html.escape(xlabel)}</text>')
        self.body.append(f'<text transform="translate(14 {self.top + h / 2:.1f}) rotate(-90)" text-anchor="middle" '
                         f'{FONT} font-size="12">{html.escape(ylabel)}</text>')

    def legend(self, items: list[tuple[str, str]], x: float, y: float, marker: str = "line") -> None:
        for i, (text, colour) in enumerate(items):
            yy = y + 18 * i
            mark = (f'<line x1="{x}" y1="{yy - 4}" x2="{x + 18}" y2="{yy - 4}" stroke="{colour}" stroke-width="2"/>'
                    if marker == "line" else f'<rect x="{x + 4}" y="{yy - 10}" width="11" height="11" '
                                             f'fill="{colour}" stroke="#333"/>')
            self.body.append(mark + f'<text x="{x + 24}" y="{yy}" {FONT} font-size="12">{html.escape(text)}</text>')

    def svg(self, label: str) -> str:
        return _svg(self.width, self.height, "".join(self.body), label)


def loss_curves(history: dict, cost: str = "cost", width: int = 560, height: int = 300) -> str:
    """Train and test mean cost (log scale) against epochs or steps, with ticks and axis titles."""
    series = [(k, np.asarray([np.nan if v is None else v for v in history.get(k) or []], dtype=float))
              for k in ("train", "test")]
    series = [(k, v) for k, v in series if len(v) and np.any(np.isfinite(v) & (v > 0))]
    if not series:
        return ""
    unit = history.get("unit", "epoch")
    every = int(unit.split()[0]) if unit.endswith("steps") and unit.split()[0].isdigit() else 1
    xlabel = "steps" if every > 1 else unit
    finite = np.concatenate([v[np.isfinite(v) & (v > 0)] for _, v in series])
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        lo, hi = lo / 2, hi * 2
    n = max(len(v) for _, v in series)
    ax = Axes(width, height, (every, n * every), (lo, hi), log_y=True)
    ax.frame(xlabel, f"mean {cost} (log scale)")
    colours = {"train": "#1f77b4", "test": "#ff7f0e"}
    for k, v in series:
        keep = np.isfinite(v) & (v > 0)
        xs, ys = ax.x((np.arange(len(v)) + 1)[keep] * every), ax.y(v[keep])
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
        ax.body.append(f'<polyline points="{points}" fill="none" stroke="{colours[k]}" stroke-width="2"/>')
    ax.legend([(k, colours[k]) for k, _ in series], width - 110, 40)
    return ax.svg(f"mean {cost} per {xlabel[:-1] if xlabel.endswith('s') else xlabel}, train and test")


def decision_regions(model, data=None, n: int = 60, size: int = 360) -> str:
    """A 2-input model's answer over its input range (class colours, or P(class 1) for one logistic unit), with
    axes in the raw features' units, the data's points when given (``(X, y)``, raw) and a legend."""
    sc = model.scaling
    if sc.kind == "scale":
        lo, hi = np.zeros(2), np.full(2, sc.factor)
    elif sc.kind == "standardize":
        lo, hi = np.asarray(sc.mean) - 3 * np.asarray(sc.std), np.asarray(sc.mean) + 3 * np.asarray(sc.std)
    else:
        lo, hi = np.full(2, -3.0), np.full(2, 3.0)
    if data is not None and len(data[0]):
        lo, hi = np.minimum(lo, data[0].min(axis=0)), np.maximum(hi, data[0].max(axis=0))
    names = model.feature_names or ["input 1", "input 2"]
    ax = Axes(size + 240, size + 70, (lo[0], hi[0]), (lo[1], hi[1]), left=70, right=170)  # the legend at right
    xs, ys = np.linspace(lo[0], hi[0], n + 1), np.linspace(lo[1], hi[1], n + 1)
    cx, cy = (xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2
    g0, g1 = np.meshgrid(cx, cy)
    out = model.predict_proba(np.column_stack([g0.ravel(), g1.ravel()]))
    labels = list(model.classes) if model.classes else list(range(max(out.shape[1], 2)))
    for k, row in enumerate(out):
        i, j = k % n, k // n
        x0, x1 = float(ax.x(xs[i])), float(ax.x(xs[i + 1]))
        y0, y1 = float(ax.y(ys[j + 1])), float(ax.y(ys[j]))
        if out.shape[1] == 1:
            v = int(255 * (1 - row[0]))
            fill = f"rgb(255,{v},{v})"
        else:
            fill = _pale(PALETTE[int(np.argmax(row)) % len(PALETTE)])
        ax.body.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0 + .5:.1f}" height="{y1 - y0 + .5:.1f}" '
                       f'fill="{fill}"/>')
    ax.frame(names[0], names[1], background="none")
    legend = ([(f"P({labels[-1]}) = 1", "rgb(255,0,0)"), (f"P({labels[-1]}) = 0.5", "rgb(255,127,127)"),
               (f"P({labels[-1]}) = 0", "rgb(255,255,255)")] if out.shape[1] == 1 else
              [(f"answers {label}", _pale(PALETTE[k % len(PALETTE)])) for k, label in enumerate(labels)])
    if data is not None and len(data[0]):
        Xd, yd = data
        index = {label: k for k, label in enumerate(labels)}
        for (a, b), label in list(zip(Xd, yd))[:500]:
            k = index.get(label, index.get(_number(label), 0))
            colour = PALETTE[k % len(PALETTE)] if out.shape[1] > 1 else ("#b00" if k == len(labels) - 1 else "#fff")
            ax.body.append(f'<circle cx="{float(ax.x(a)):.1f}" cy="{float(ax.y(b)):.1f}" r="3.5" fill="{colour}" '
                           'stroke="#222" stroke-width="0.8"/>')
        legend.append(("a data point (its label)", "#888"))
    ax.legend(legend, size + 100, 40, marker="box")
    return ax.svg("decision regions over the two inputs")


def _pale(colour: str, amount: float = 0.55) -> str:
    """``colour`` (#rrggbb) mixed with white: a region's shade, beneath the points' full colour."""
    rgb = [int(colour[k:k + 2], 16) for k in (1, 3, 5)]
    return "#" + "".join(f"{round(v + (255 - v) * amount):02x}" for v in rgb)


def _number(label):
    try:
        return int(float(label))
    except (TypeError, ValueError):
        return label
