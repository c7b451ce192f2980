"""A large batch split over threads: each share's generated ``gradient_sums`` at once, the sums added, one update.

NumPy runs its array loops and BLAS calls without holding the GIL, so the shares of a batch run on as many cores
at once, as PyTorch's intra-op threads do.  Meanwhile the BLAS library is held to one thread (two shares of
two-threaded products would fight over two cores: measured slower than no split).  The shares' sums are added in
share order, so a run repeats exactly; against the unsplit step the numbers differ by rounding only.  A batch is
split only where a step's values are large enough to pay for the threads (:data:`MIN_VALUES`), and never where
samples meet: batch statistics (batchnorm) or dropout's masks, which come per batch.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# a step's values (entries of its forward values and δs, for the whole batch) from which splitting pays on every
# network measured (benchmarks/bench_shares.py, float64 and float32): from 2M to 8M entries it won on some and lost
# on others (0.7x-2.0x), below 2M it lost (the threads' hand-offs cost more than the second core saves)
MIN_VALUES = 1 << 23
MAX_THREADS = 8


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def values_per_sample(program) -> int:
    """Entries a sample adds to one training step: its forward values and its backward δs."""
    return sum(math.prod(s.shape) for s in program.steps if s.expr is not None and s.role in ("forward", "delta"))


def splittable(network) -> bool:
    """Whether a batch of this network may be split: no batch statistics, no per-batch dropout masks."""
    return not network.masks and not network.batch_coupled


def threads_for(network, program, batch: int, threads: int | None = None) -> int:
    """How many shares a batch of ``batch`` samples runs in: ``threads`` (default: the cores, at most
    :data:`MAX_THREADS`) where the step's values reach :data:`MIN_VALUES`, else 1."""
    n = min(cores(), MAX_THREADS) if threads is None else threads
    if n < 2 or batch < 2 or not splittable(network):
        return 1
    if threads is None and values_per_sample(program) * batch < MIN_VALUES:
        return 1
    return min(n, batch)


def sgd_update(params, sums: dict, count, lr) -> None:
    """Plain SGD from the gradients summed over a batch of ``count``: ``W -= lr/count · Σ``, in place."""
    step = lr / count
    for name, total in sums.items():
        params[name] -= step * total


class SplitSteps:
    """``sgd_step(params, X, Y, lr, cost=True)`` as a generated one, a batch's samples (X's and Y's last axis)
    split in ``threads`` shares run at once; ``update(params, sums, count, lr)`` applies the summed gradients
    (:func:`sgd_update`, or an optimizer's generated ``optimizer_update``); ``forward`` the module's."""

    def __init__(self, module, threads: int, update=sgd_update):
        from threadpoolctl import ThreadpoolController

        self.module, self.forward, self.threads, self.update = module, module.forward, threads, update
        self.pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="symbackprop-share")
        self.blas = ThreadpoolController()

    def sgd_step(self, params, X, Y, lr, cost=True):
        """One step on the batch, in place; the mean cost before it (None with cost=False)."""
        m = X.shape[-1]
        if m < self.threads:  # fewer samples than shares: one share
            C, count, sums = self.module.gradient_sums(params, X, Y, cost)
            self.update(params, sums, count, lr)
            return None if C is None else C / count
        cuts = [m * k // self.threads for k in range(self.threads + 1)]
        parts = [(X[..., a:b], Y[..., a:b]) for a, b in zip(cuts, cuts[1:])]
        with self.blas.limit(limits=1, user_api="blas"):
            later = [self.pool.submit(self.module.gradient_sums, params, x, y, cost) for x, y in parts[1:]]
            shares = [self.module.gradient_sums(params, *parts[0], cost)] + [f.result() for f in later]
        count = sum(s[1] for s in shares)
        sums = {}
        for name, g in shares[0][2].items():
            total = sums[name] = g + shares[1][2][name]  # a new array: the shares' own stay as they were
            for s in shares[2:]:
                total += s[2][name]
        self.update(params, sums, count, lr)
        return None if not cost else float(np.sum([s[0] for s in shares])) / count

    def close(self) -> None:
        self.pool.shutdown()
