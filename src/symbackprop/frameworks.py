"""Mini-batch training on JAX (whole epochs jitted, data-parallel over local devices) and PyTorch (CUDA if present).

Both run the derived gradients of the generated module for that framework.  The permutation of each epoch is
drawn on the host by the same generator as the NumPy backend (so a seed gives the same sample order on every
backend and any device count) and applied on the device.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .backends import framework_module, optimizer_module, x64
from .backends.updates import flat_state, restore_state
from .draws import masks_of
from .errors import DivergedError
from .layers.batchnorm import running_updates
from .optimizers import get_optimizer, state_key


def describe_jax() -> tuple[list, str]:
    """The local devices JAX trains on (its default platform: a GPU when it sees one) and their description."""
    import jax

    devices = jax.local_devices()
    kind = devices[0].platform
    return devices, f"jax on {len(devices)} {kind} device{'s' if len(devices) != 1 else ''}"


def _diverged(costs: list[float], lr: float) -> None:
    for epoch, c in enumerate(costs, start=1):
        if not math.isfinite(c):
            raise DivergedError(f"training diverged in epoch {epoch}: the loss is not finite; "
                                f"try a lower learning rate (now {lr:g})")


ORDER_INTS = 1 << 24  # the sample orders of at most this many epochs' samples go to the device in one call


class EarlyStop:
    """Early stopping: called after each epoch with the validation loss, it keeps the weights of the best epoch
    (``snapshot()`` copies them, only when the loss improves) and says stop once ``patience`` epochs pass without
    an improvement."""

    def __init__(self, patience: int):
        self.patience, self.best, self.best_epoch, self.weights, self.stopped = patience, math.inf, 0, None, None

    def __call__(self, epoch: int, loss: float, snapshot) -> bool:
        if loss < self.best:
            self.best, self.best_epoch, self.weights = loss, epoch, snapshot()
        if epoch - self.best_epoch >= self.patience:
            self.stopped = epoch
            return True
        return False

    def restore(self, params: dict, history: dict) -> dict:
        """The best epoch's weights (the last ones when no loss was finite), noted in ``history``."""
        history.update(best_epoch=self.best_epoch, stopped=self.stopped)
        return {**params, **self.weights} if self.weights is not None else params


def initial_state(network, optimizer, params, zeros) -> dict:
    """The optimizer's state: the step count and each learned parameter's variables at 0 (``zeros(array)``)."""
    return {"t": 0, **{state_key(k, q.name): zeros(params[q.name]) for q in network.params if not q.state
                       for k in optimizer.state}}


def saved_state(network, optimizer, state: dict) -> dict:
    """The optimizer's state as NumPy arrays (float64) and the step count: what a model file keeps to resume."""
    keys = [state_key(k, q.name) for q in network.params if not q.state for k in optimizer.state]
    return {"t": int(state["t"]), **{k: np.array(_host(state[k]), dtype=float) for k in keys}}


def _host(value):
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value


@lru_cache(maxsize=32)
def _jax_epochs(network, m: int, size: int, lr: float, dtype: str, n_devices: int, optimizer):
    """Epochs of mini-batch SGD as one jitted function ``(params, X, Y, orders, X_test, Y_test) -> (params,
    train costs, test costs)``: a ``lax.scan`` over the epochs (one row of ``orders`` each) of a ``lax.scan`` over
    the full batches, then the rest; each batch split across the devices where it divides evenly (its gradient
    sums then add across them).  Cached, so a second run does not compile again.  One call runs many epochs and
    the learning rate is a constant of the code: measured, each costs 10-15% of an epoch of digits."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    mod = framework_module(network, "jax")
    stepper = optimizer_module(network, optimizer, "jax") if not optimizer.plain else None
    evaluate = framework_module(network.eval(), "jax")  # the test curve: without dropout
    update = running_updates(network)

    def step(carry, drawn, xb, yb, count):
        """One step (SGD, or the optimizer's with its state); with batchnorm, its running statistics from this
        batch's first."""
        p, s = carry
        inputs = {**p, **drawn}
        if update is not None:
            p = {**p, **update(p, mod.forward(inputs, xb), count)}
        if stepper is None:
            new, c = mod.sgd_step(inputs, xb, yb, lr)
        else:
            new, s, c = stepper.optimizer_step(inputs, s, xb, yb, lr)
        return ({**p, **new}, s), c
    full, rest = divmod(m, size)
    mesh = Mesh(np.array(jax.local_devices()[:n_devices]), ("batch",))
    split = NamedSharding(mesh, P(None, "batch")) if n_devices > 1 and size % n_devices == 0 else None

    def epochs(p, X, T, orders, masks, rest_masks, Xv, Tv):  # X, T: samples as rows (a batch: whole rows)
        def batch(p, xs):
            idx, drawn = xs
            xb, yb = X[idx].T, T[idx].T  # the shuffle, on the device: whole rows gathered, then transposed
            if split is not None:
                xb = jax.lax.with_sharding_constraint(xb, split)
                yb = jax.lax.with_sharding_constraint(yb, split)
                drawn = {k: jax.lax.with_sharding_constraint(v, split) for k, v in drawn.items()}
            return step(p, drawn, xb, yb, size)

        def epoch(p, xs):
            order, drawn, drawn_rest = xs
            p, costs = jax.lax.scan(batch, p, (order[:full * size].reshape(full, size), drawn))
            total = jnp.sum(costs) * size
            if rest:
                p, c = step(p, drawn_rest, X[order[full * size:]].T, T[order[full * size:]].T, rest)
                total = total + c * rest
            test = evaluate.cost(p[0], Xv, Tv) if Xv is not None else total
            return p, (total / m, test)

        p, (train, test) = jax.lax.scan(epoch, p, (orders, masks, rest_masks))
        return p, train, test

    # one device: plain placement (a one-device mesh only adds dispatch work)
    return jax.jit(epochs), NamedSharding(mesh, P()) if n_devices > 1 else None


def train_jax(network, params, Xt, Y, epochs, size, lr, rng, val, bar, dtype, optimizer=None,
              stop=None, initial=None) -> tuple[dict, dict, dict]:
    """(trained params, history, the optimizer's state): whole epochs in one jitted call, on every local device;
    ``initial``: the optimizer's state to start from (a resumed run's)."""
    import jax

    devices, where = describe_jax()
    m = Xt.shape[1]
    optimizer = get_optimizer(optimizer)
    with x64(dtype == "float64"):
        run, everywhere = _jax_epochs(network, m, size, float(lr), dtype, len(devices), optimizer)
        masks = masks_of(network, dtype)
        units = sum(width for _, (width, _) in network.masks)
        per_call = max(1, min(epochs, ORDER_INTS // (m * (1 + units))))  # orders and masks of these epochs
        if stop is not None:  # each epoch's validation loss is read before the next
            per_call = 1
        full, rest = divmod(m, size)

        def orders(count):
            """Each epoch's permutation, then each batch's dropout masks: drawn in the NumPy backend's order."""
            if not units:
                return np.stack([rng.permutation(m) for _ in range(count)]).astype(np.int32), {}, {}
            perms, drawn, drawn_rest = [], [], []
            for _ in range(count):
                perms.append(rng.permutation(m))
                batches = [masks(rng, size) for _ in range(full)]
                drawn.append({k: np.stack([b[k] for b in batches]) for k in batches[0]} if batches and
                             batches[0] else {})
                drawn_rest.append(masks(rng, rest) if rest else {})
            stack = lambda dicts: {k: np.stack([d[k] for d in dicts]) for k in dicts[0]}  # noqa: E731
            return np.stack(perms).astype(np.int32), stack(drawn), stack(drawn_rest)

        # converted on the host by NumPy, then one transfer of everything; samples as rows on the device
        weights = {k: np.ascontiguousarray(v, dtype) for k, v in params.items()}
        start_state = initial_state(network, optimizer, weights, np.zeros_like)
        if initial is not None:
            start_state = {k: (v if k == "t" else np.asarray(initial[k], dtype)) for k, v in initial.items()}
        host = ((weights, start_state), np.ascontiguousarray(Xt.T, dtype),
                np.ascontiguousarray(Y.T, dtype), tuple(np.ascontiguousarray(a, dtype) for a in val or ()),
                orders(min(per_call, epochs)))
        state, X, T, val_dev, (order, drawn, drawn_rest) = jax.device_put(host, everywhere)
        Xv, Tv = val_dev if val else (None, None)
        parts = []
        for start in range(0, epochs, per_call):
            count = min(per_call, epochs - start)
            if start:
                order, drawn, drawn_rest = jax.device_put(orders(count), everywhere)
            state, train, test = run(state, X, T, order, drawn, drawn_rest, Xv, Tv)
            parts.append((train, test))  # kept on the device: no wait for the epochs to end
            bar.update(count)
            if stop is not None and stop(start + 1, float(test[0]), lambda now=state: {
                    k: np.asarray(v, dtype=float) for k, v in jax.device_get(now[0]).items()}):
                break
        (state, moments), parts = jax.device_get((state, parts))  # one transfer back
        history = {"unit": "epoch", "device": where, "train": [float(c) for tr, _ in parts for c in tr],
                   "test": [float(c) for _, te in parts for c in te] if val else []}
        _diverged(history["train"], lr)
        return {k: np.asarray(v, dtype=float) for k, v in state.items()}, history, saved_state(
            network, optimizer, moments)


def describe_torch(device=None) -> tuple[object, str]:
    import torch

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return device, f"torch on {device.type}" + (f" ({torch.cuda.get_device_name(device)})"
                                                  if device.type == "cuda" else "")


def train_torch(network, params, Xt, Y, epochs, size, lr, rng, val, bar, dtype, optimizer=None,
                stop=None, initial=None) -> tuple[dict, dict, dict]:
    """(trained params, history, the optimizer's state): the derived gradients over tensors, updated in place,
    batch by batch; ``initial``: the optimizer's state to start from (a resumed run's)."""
    import torch

    device, where = describe_torch()
    mod = framework_module(network, "torch")
    optimizer = get_optimizer(optimizer)
    stepper = optimizer_module(network, optimizer, "torch", flat=True, kernel=device.type == "cpu") \
        if not optimizer.plain else None
    evaluate = framework_module(network.eval(), "torch")
    masks = masks_of(network, dtype)
    update = running_updates(network)
    kind = getattr(torch, dtype)

    def tensor(a):
        return torch.as_tensor(np.ascontiguousarray(a, dtype=dtype), device=device)

    # samples as rows on the device: a batch is a gather of whole rows (contiguous), then a transposed view
    X, T = tensor(Xt.T), tensor(Y.T)
    state = {k: tensor(v).clone() for k, v in params.items()}
    moments = flat_state(network, optimizer, state, lambda n, like: torch.zeros(
        n, dtype=like.dtype, device=like.device)) if stepper is not None else {"t": 0}
    if initial is not None and stepper is not None:
        restore_state(moments, initial)
    val_dev = tuple(tensor(a) for a in val) if val else None
    m = Xt.shape[1]
    train_costs, test_costs = [], []
    for epoch in range(epochs):
        order = torch.as_tensor(rng.permutation(m), device=device)
        total = torch.zeros((), dtype=kind, device=device)
        for start in range(0, m, size):
            idx = order[start:start + size]
            drawn = {k: tensor(v) for k, v in masks(rng, len(idx)).items()}  # as the NumPy backend draws them
            inputs, Xb = ({**state, **drawn} if drawn else state), X[idx].T
            if update is not None:  # batchnorm's running statistics, from this batch's (before the step)
                with torch.no_grad():
                    state.update(update(state, mod.forward(inputs, Xb), len(idx)))
            if stepper is None:
                total += mod.sgd_step(inputs, Xb, T[idx].T, lr) * len(idx)
            else:
                total += stepper.optimizer_step(inputs, moments, Xb, T[idx].T, lr) * len(idx)
        train_costs.append(total / m)
        if val_dev is not None:
            with torch.no_grad():
                test_costs.append(evaluate.cost(state, *val_dev))
        bar.update(1)
        if stop is not None and stop(epoch + 1, float(test_costs[-1]), lambda: {
                k: v.double().cpu().numpy().copy() for k, v in state.items()}):
            break
    history = {"unit": "epoch", "device": where, "train": [float(c) for c in train_costs],
               "test": [float(c) for c in test_costs]}
    _diverged(history["train"], lr)
    return {k: v.double().cpu().numpy() for k, v in state.items()}, history, saved_state(
        network, optimizer, moments) if stepper is not None else {"t": 0}
