"""What the training loops share: the mean cost in blocks, the finiteness check, the progress bar, a slow start
announced."""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

import numpy as np

from .errors import DivergedError


def mean_cost(batch, params, X, Y, block: int = 65_536) -> float:
    """The mean cost over the columns of X, Y, a block of samples at a time (bounded memory)."""
    m = X.shape[1]
    return float(sum(batch.cost(params, X[:, k:k + block], Y[:, k:k + block]) * min(block, m - k)
                     for k in range(0, m, block)) / m)


def progress_bar(total: int, enabled: bool | None, unit: str):
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, disable=not enabled, unit=unit, leave=False, file=sys.stderr)


@contextmanager
def announced(message: str, after: float = 1.0):
    """Say ``message`` on stderr if the work inside takes more than ``after`` seconds."""
    timer = threading.Timer(after, lambda: print(f"symbackprop: {message}", file=sys.stderr, flush=True))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def check_finite(params, where: str, lr: float):
    for name, value in params.items():
        if not np.all(np.isfinite(value)):
            raise DivergedError(f"training diverged at {where}: {name} is not finite; "
                                f"try a lower learning rate (now {lr:g})")
