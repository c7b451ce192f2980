"""Proving the derived gradients: central finite differences against the compiled code, for every parameter entry."""

from __future__ import annotations

import sys
import time

import numpy as np

from ..derive import Derivation, derive
from ..draws import random_problem
from ..errors import SymbackpropError
from .report import ParamResult, Report, compare


def _near_kink(derivation, params, X, margin: float) -> bool:
    """True when the input of a layer with a kink (ReLU-family) lies within ``margin`` of its kink at 0."""
    values = derivation.compile("numpy").module.forward(params, X)
    return any(np.any(np.abs(values[str(node.site.ins[0])]) < margin)
               for node in derivation.network.nodes if "kink" in node.layer.traits)


def _derivation(spec_or_derivation, cost) -> Derivation:
    if isinstance(spec_or_derivation, Derivation):
        return spec_or_derivation
    return derive(spec_or_derivation, cost)


def gradcheck(spec_or_derivation, cost: str | None = None, seed: int = 0, m: int = 3, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, backend: str = "numpy") -> Report:
    """Central finite differences in float64 for every parameter entry against the compiled gradients.

    Tolerances default to ``torch.autograd.gradcheck``'s.  Draws whose ReLU pre-activations lie
    within a few eps of a kink are redrawn (and the report says so).
    """
    d = _derivation(spec_or_derivation, cost)
    net = d.network
    f = d.compile(backend)
    cost_fn = d.compile("numpy").module.cost
    rng = np.random.default_rng(seed)
    redraws = 0
    params, X, Y = random_problem(net, rng, m)
    while _near_kink(d, params, X, 100 * eps) and redraws < 50:
        redraws += 1
        params, X, Y = random_problem(net, rng, m)
    _, grads = f(params, X, Y)
    _affordable(net, lambda: cost_fn(params, X, Y))
    report = Report(f"gradcheck {net.spec} ({net.cost.name}): central differences, eps {eps:g}, "
                    f"{m} samples", [])
    bar = _progress(2 * net.n_params)
    for name, shape in net.shapes().items():
        fd = np.zeros(shape)
        for idx in np.ndindex(*shape):
            bar.update(2)
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            fd[idx] = (cost_fn(plus, X, Y) - cost_fn(minus, X, Y)) / (2 * eps)
        result = ParamResult(name, shape, shape)
        compare(result, fd, grads[name], rtol, atol, "finite difference vs derived")
        report.params.append(result)
    bar.close()
    if redraws:
        report.notes.append(f"redrew the random point {redraws} time(s) to keep ReLU pre-activations "
                            f"away from their kinks")
    return report


GRADCHECK_SECONDS = 30  # finite differences estimated to take longer are refused before they start


def _affordable(net, cost_once) -> None:
    """Refuse, with the numbers, a gradcheck whose 2 cost evaluations per parameter entry would take over
    :data:`GRADCHECK_SECONDS` (each evaluation timed here, the median of three)."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        cost_once()
        times.append(time.perf_counter() - start)
    each = sorted(times)[1]
    seconds = 2 * net.n_params * each
    if seconds > GRADCHECK_SECONDS:
        raise SymbackpropError(f"gradcheck {net.spec} would take about {seconds:,.0f} s (2 × {net.n_params:,} cost "
                               f"evaluations of {each * 1e3:.2g} ms each); gradcheck a narrower network: the same "
                               "derivation rules hold at every width")


def _progress(total: int):
    """A progress bar on a terminal's standard error (nothing elsewhere) over ``total`` cost evaluations."""
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not sys.stderr.isatty(), unit="eval", leave=False, file=sys.stderr,
                mininterval=0.5)


