"""Which L2 convention a user's backprop follows with ``--reg R``: ½·R·ΣW², R·ΣW² or a course's λ/(2m)·ΣW², told
from the numbers it returns (its gradients first, else its loss)."""

from __future__ import annotations

import numpy as np

# (the penalty, its derivative for a weight W, the factor c(R, m) of W in the gradient: the penalty is c/2·ΣW²)
CONVENTIONS = (
    ("½·reg·ΣW²", "reg·{W}", lambda r, m: r),
    ("reg·ΣW²", "2·reg·{W}", lambda r, m: 2 * r),
    ("λ/(2m)·ΣW²", "(λ/m)·{W}", lambda r, m: r / m),
)
DEFAULT = CONVENTIONS[0]


def _close(a, b) -> bool:
    return bool(np.allclose(a, b, rtol=1e-6, atol=1e-9))


def convention_of(loss, grads, params, want, want_cost, network, m, scale, reg, failed=None) -> tuple:
    """((name, c), the note saying how it was told) for the user's numbers on one batch of ``m``: ``grads`` by
    our names (what they returned), ``loss`` a number or None; ``want``, ``want_cost`` the derived ones with no
    penalty; the user's data term may be the mean or, where ``scale`` allows, the sum over the samples."""
    weights = [q.name for q in network.params if q.penalised]
    pers = {"mean": (1,), "sum": (m,)}.get(scale, (1, m))
    square = sum(float(np.sum(params[k] ** 2)) for k in weights)
    shaped = [k for k in weights if isinstance((grads or {}).get(k), np.ndarray) and grads[k].shape == want[k].shape]
    held = {conv: max(sum(_close(grads[k], per * want[k] + conv[2](reg, m) * params[k]) for k in shaped)
                      for per in pers) for conv in CONVENTIONS}
    best = max(CONVENTIONS, key=held.get)
    if held[best]:  # the convention that reproduces the most weights' gradients (a weight may have it forgotten)
        return best, f"regularisation: {said(best)}, told from your gradients (--reg {reg:g})"
    if loss is not None and square > 0:
        for conv in CONVENTIONS:
            c = conv[2](reg, m)
            if any(_close(loss, per * want_cost + c / 2 * square) for per in pers):
                return conv, f"regularisation: {said(conv)}, told from your loss (--reg {reg:g})"
    why = f"your function raised {failed}" if failed else "no convention reproduces your numbers"
    return DEFAULT, (f"regularisation: compared with {said(DEFAULT)} ({why}; --reg {reg:g}; the others: "
                     f"{'; '.join(c[0] for c in CONVENTIONS[1:])})")


def said(conv, weight: str = "W") -> str:
    """``reg·ΣW² (dW += 2·reg·W)``."""
    return f"{conv[0]} (d{weight} += {conv[1].format(W=weight)})"
