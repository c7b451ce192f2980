"""Mini-batch training on JAX (whole epochs jitted, data-parallel over local devices) and PyTorch (CUDA if present).

Both run the derived gradients of the generated module for that framework.  The permutation of each epoch is
drawn on the host by the same generator as the NumPy backend (so a seed gives the same sample order on every
backend and any device count) and applied on the device.
"""

from __future__ import annotations

import math

import numpy as np

from .backends import framework_module, x64
from .errors import DivergedError


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


def train_jax(network, params, Xt, Y, epochs, size, lr, rng, val, bar, dtype) -> tuple[dict, dict]:
    """(trained params, history): one jitted ``lax.scan`` over the batches per epoch, every batch split across
    the local devices where it divides evenly (the gradient sums then add across devices)."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    devices, where = describe_jax()
    m = Xt.shape[1]
    full, rest = divmod(m, size)
    with x64(dtype == "float64"):
        mod = framework_module(network, "jax")
        mesh = Mesh(np.array(devices), ("batch",))
        everywhere = NamedSharding(mesh, P())
        split = NamedSharding(mesh, P(None, "batch")) if len(devices) > 1 and size % len(devices) == 0 else None
        X, T = (jax.device_put(jnp.asarray(a, dtype), everywhere) for a in (Xt, Y))
        state = {k: jax.device_put(jnp.asarray(v, dtype), everywhere) for k, v in params.items()}
        step = jnp.asarray(lr, dtype)

        def batch(p, idx):
            xb, yb = X[:, idx], T[:, idx]  # the shuffle, on the device
            if split is not None:
                xb = jax.lax.with_sharding_constraint(xb, split)
                yb = jax.lax.with_sharding_constraint(yb, split)
            return mod.sgd_step(p, xb, yb, step)

        @jax.jit
        def epoch(p, order):
            p, costs = jax.lax.scan(batch, p, order[:full * size].reshape(full, size))
            total = jnp.sum(costs) * size
            if rest:
                p, c = mod.sgd_step(p, X[:, order[full * size:]], T[:, order[full * size:]], step)
                total = total + c * rest
            return p, total / m

        test_cost = jax.jit(mod.cost)
        val_dev = tuple(jax.device_put(jnp.asarray(a, dtype), everywhere) for a in val) if val else None
        train_costs, test_costs = [], []
        for _ in range(epochs):
            order = jax.device_put(rng.permutation(m).astype(np.int32), everywhere)
            state, c = epoch(state, order)
            train_costs.append(c)  # kept on the device: no wait for the epoch to end
            if val_dev is not None:
                test_costs.append(test_cost(state, *val_dev))
            bar.update(1)
        history = {"unit": "epoch", "device": where, "train": [float(c) for c in train_costs],
                   "test": [float(c) for c in test_costs]}
        _diverged(history["train"], lr)
        return {k: np.asarray(v, dtype=float) for k, v in state.items()}, history


def describe_torch(device=None) -> tuple[object, str]:
    import torch

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return device, f"torch on {device.type}" + (f" ({torch.cuda.get_device_name(device)})"
                                                  if device.type == "cuda" else "")


def train_torch(network, params, Xt, Y, epochs, size, lr, rng, val, bar, dtype) -> tuple[dict, dict]:
    """(trained params, history): the derived gradients over tensors, updated in place, batch by batch."""
    import torch

    device, where = describe_torch()
    mod = framework_module(network, "torch")
    kind = getattr(torch, dtype)

    def tensor(a):
        return torch.as_tensor(np.asarray(a), dtype=kind, device=device)

    X, T = tensor(Xt), tensor(Y)
    state = {k: tensor(v).clone() for k, v in params.items()}
    val_dev = tuple(tensor(a) for a in val) if val else None
    m = Xt.shape[1]
    train_costs, test_costs = [], []
    for _ in range(epochs):
        order = torch.as_tensor(rng.permutation(m), device=device)
        total = torch.zeros((), dtype=kind, device=device)
        for start in range(0, m, size):
            idx = order[start:start + size]
            total += mod.sgd_step(state, X[:, idx], T[:, idx], lr) * len(idx)
        train_costs.append(total / m)
        if val_dev is not None:
            with torch.no_grad():
                test_costs.append(mod.cost(state, *val_dev))
        bar.update(1)
    history = {"unit": "epoch", "device": where, "train": [float(c) for c in train_costs],
               "test": [float(c) for c in test_costs]}
    _diverged(history["train"], lr)
    return {k: v.double().cpu().numpy() for k, v in state.items()}, history
