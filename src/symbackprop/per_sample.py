"""Per-sample training: the generated numba loop, one random sample a step, plain SGD (the textbook's) or an
optimizer's rule a sample at a time."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from .backends import per_sample_module
from .backends.loader import seal
from .backends.updates import flat_state
from .errors import DivergedError
from .loop_parts import announced, check_finite, mean_cost, progress_bar
from .optimizers import state_key

STEPS_PER_POINT = 1000  # per-sample history: one point per this many steps (or more: see MAX_POINTS)
MAX_POINTS = 1000  # a loss history keeps at most about this many points


def train_per_sample(network, batch, params, Xt, Y, steps, lr, rng, val, progress, optimizer) -> dict:
    """``steps`` steps, each on one sample drawn by ``rng``, in place on ``params``; the loss history (one point
    per ``every`` steps, and the test curve on ``val``).  An optimizer other than plain SGD runs its rule a
    sample at a time over flat buffers (its state starts at 0)."""
    plain = optimizer.plain
    module = per_sample_module(network, None if plain else optimizer)
    every = STEPS_PER_POINT * max(1, -(-steps // (STEPS_PER_POINT * MAX_POINTS)))  # at most MAX_POINTS points
    extra = ()
    if plain:
        arrays = [np.ascontiguousarray(params[k]) for k in network.shapes()]
    else:  # the parameters and each g_W1 are views of flat buffers that the rule updates in place
        state = flat_state(network, optimizer, params, lambda n, like: np.zeros(n))
        empty = np.empty(0)
        arrays = [params[k] for k in network.shapes()]
        extra = (*[state[state_key("g", k)] for k in network.shapes()], state["all_P"], state["all_g"],
                 *[state.get(f"all_{k}", empty) for k in ("m", "v", "b", "decay")],
                 np.array([x for _, x in optimizer.values], dtype=float))
    steps_fn = module.sgd if plain else module.optimize
    history = {"unit": f"{every} steps", "train": [], "test": []}
    current = dict(zip(network.shapes(), arrays))  # the same arrays, updated in place by the loop
    if module.NUMBA:  # compiled now, on copies, so that a slow first compile can be announced (not a cached load)
        compiling = not getattr(module, "__cached_build__", False)
        copies = [a.copy() for a in (*arrays, Xt, Y)] + [np.zeros(1, dtype=np.int64), float(lr), 1, np.zeros(1)]
        with announced(f"compiling the generated code for {network.spec} (first time only)...") if compiling \
                else nullcontext():
            steps_fn(*copies, *([a.copy() for a in extra] + [0] if extra else []))
        seal(module)
    done = 0
    with progress_bar(steps, progress, "step") as bar, np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, steps, every):
            # the sample order is drawn a part at a time (the same order as at once, in constant memory)
            part = rng.integers(0, Xt.shape[1], size=min(every, steps - start))
            losses = np.zeros(1)
            failed = steps_fn(*arrays, Xt, Y, part, float(lr), len(part), losses, *(list(extra) + [done] if extra
                                                                                      else []))
            done += len(part)
            if failed >= 0:
                raise DivergedError(f"training diverged at step {start + failed + 1}: the loss is not finite; "
                                    f"try a lower learning rate (now {lr:g})")
            history["train"].append(float(losses[0]))
            if val is not None:
                history["test"].append(mean_cost(batch, current, *val))
            bar.update(len(part))
    check_finite(dict(zip(network.shapes(), arrays)), f"step {steps}", lr)
    params.update({k: np.array(a) for k, a in zip(network.shapes(), arrays)})
    return history
