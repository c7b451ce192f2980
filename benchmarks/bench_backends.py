"""The JAX and PyTorch training backends against hand-written loops in those frameworks, measured in the same run.

Each case trains mini-batch SGD in float32 through ``symbackprop.train(..., backend=...)`` (everything it does:
initialisation, scaling, one-hot targets, the model) and through a hand-written loop using that framework's own
autograd, from the same initial weights and sample order:

- JAX: one jitted ``lax.scan`` over the batches per epoch with ``jax.value_and_grad`` (target: symbackprop
  >= 1.0x its speed on 200 epochs of digits: short runs swing 0.8-1.1x);
- PyTorch: the usual loop, ``loss.backward()`` and an in-place update per batch (reported).

Cases: scikit-learn's digits, 64-64:relu-10:softmax, batch 32, --epochs (20); 784-256:relu-10:softmax on 20,000
synthetic samples, batch 256.  Both sides are compiled/warmed first; times are medians of --repeat runs taken in
turn, a pause before each; "rounds" is the lowest and highest ratio of one round.  Where JAX or PyTorch sees a
GPU, the rows are GPU rows (each names its device).
Run: python benchmarks/bench_backends.py [--repeat 15] [--epochs 200] [--epochs-large 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from symbackprop import parse_spec
from symbackprop.train import init_params, train

PAUSE = 0.2  # seconds between runs: XLA's and OpenBLAS's worker threads spin for a while after a call, and would
# slow whatever runs next on this 2-core machine (a NumPy product measured 1 ms alone, 10-13 ms right after JAX)


def interleaved(fns, repeat, rounds=None):
    """Median time of each function, running them in turn so that machine noise hits all alike, with a pause
    before each run; ``rounds`` (a list) receives each counted round's times."""
    times = [[] for _ in fns]
    for _ in range(repeat + 1):  # the first round compiles and warms up, and is not counted
        for k, fn in enumerate(fns):
            time.sleep(PAUSE)
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    if rounds is not None:
        rounds.extend(zip(*(ts[1:] for ts in times)))
    return [statistics.median(ts[1:]) for ts in times]


def forward_logits(Wb, X, n_layers, xp):
    A = X
    for layer in range(1, n_layers + 1):
        Z = Wb[f"W{layer}"] @ A + Wb[f"B{layer}"]
        A = (Z * (Z > 0)) if layer < n_layers else Z  # ReLU, spelled alike in JAX and PyTorch
    return A


def hand_jax(params, X, Y, epochs, size, lr, seed):
    """Hand-written JAX: jax.value_and_grad of the softmax cross-entropy, one jitted lax.scan per epoch."""
    import jax
    import jax.numpy as jnp

    n_layers = len(params) // 2
    m = X.shape[1]
    full = m // size

    def loss(p, xb, yb):
        logits = forward_logits(p, xb, n_layers, jnp)
        return -jnp.sum(yb * jax.nn.log_softmax(logits, axis=0)) / xb.shape[1]

    @jax.jit
    def epoch(p, Xd, Yd, order):
        def body(p, idx):
            c, g = jax.value_and_grad(loss)(p, Xd[:, idx], Yd[:, idx])
            return jax.tree.map(lambda w, d: w - lr * d, p, g), c

        p, costs = jax.lax.scan(body, p, order[:full * size].reshape(full, size))
        if m % size:
            idx = order[full * size:]
            c, g = jax.value_and_grad(loss)(p, Xd[:, idx], Yd[:, idx])
            p = jax.tree.map(lambda w, d: w - lr * d, p, g)
        return p, costs

    Xd, Yd = jnp.asarray(X, jnp.float32), jnp.asarray(Y, jnp.float32)

    def run():
        rng = np.random.default_rng(seed)
        p = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
        for _ in range(epochs):
            p, _ = epoch(p, Xd, Yd, jnp.asarray(rng.permutation(m).astype(np.int32)))
        return jax.block_until_ready(p)

    return run


def hand_torch(params, X, Y, epochs, size, lr, seed):
    """Hand-written PyTorch: autograd's backward() of the cross-entropy and an in-place update per batch."""
    import torch

    n_layers = len(params) // 2
    Xd, Yd = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(Y, dtype=torch.float32)
    m = X.shape[1]

    def run():
        rng = np.random.default_rng(seed)
        p = {k: torch.tensor(v, dtype=torch.float32, requires_grad=True) for k, v in params.items()}
        for _ in range(epochs):
            order = torch.as_tensor(rng.permutation(m))
            for start in range(0, m, size):
                idx = order[start:start + size]
                logits = forward_logits(p, Xd[:, idx], n_layers, torch)
                loss = -(Yd[:, idx] * torch.log_softmax(logits, dim=0)).sum() / len(idx)
                loss.backward()
                with torch.no_grad():
                    for w in p.values():
                        w -= lr * w.grad
                        w.grad = None
        return p

    return run


def case(name, spec, X, y, epochs, size, lr, repeat, seed=0):
    network = parse_spec(spec, "cross_entropy")
    Y = np.eye(network.outputs)[y].T
    params = init_params(network, np.random.default_rng(seed), "auto", X.T)  # as train() draws them

    def ours(backend):
        return lambda: train(spec, X, y, "cross_entropy", batch_size=size, epochs=epochs, lr=lr, seed=seed,
                             backend=backend, dtype="float32", progress=False)

    rows = []
    for backend, hand, target in (("jax", hand_jax, 1.0), ("torch", hand_torch, None)):
        try:
            __import__(backend)
        except ImportError:
            print(f"{name}: {backend} is not installed; skipped")
            continue
        rounds = []
        t_ours, t_hand = interleaved([ours(backend), hand(params, X.T, Y, epochs, size, lr, seed)], repeat, rounds)
        ratios = sorted(h / o for o, h in rounds)
        rows.append((name, f"{backend} ({_device(backend)})", t_ours, t_hand, target,
                     f"{ratios[0]:.2f}-{ratios[-1]:.2f}"))
    return rows


def _device(backend: str) -> str:
    """Where that backend ran: JAX's default platform, or PyTorch's CUDA device when present."""
    if backend == "jax":
        import jax

        return f"{jax.devices()[0].platform}, {len(jax.local_devices())} device(s)"
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs of the digits case (a third of them, at "
                        "least 3, of the large case)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs on digits (default 20)")
    parser.add_argument("--epochs-large", type=int, default=20, help="epochs on the 784-256 case (default 20)")
    args = parser.parse_args()
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    rows = case("digits 64-64:relu-10:softmax, batch 32", "64-64:relu-10:softmax", X / 16.0, y, args.epochs, 32,
                0.05, args.repeat)
    rng = np.random.default_rng(0)
    Xl = rng.random((20_000, 784))
    yl = (Xl[:, :10] @ rng.normal(size=10) > 0).astype(int) + 2 * (Xl[:, 10:20].sum(axis=1) > 5)
    rows += case("synthetic 20,000 x 784-256:relu-10:softmax, batch 256", "784-256:relu-10:softmax", Xl, yl,
                 args.epochs_large, 256, 0.05, max(3, args.repeat // 3))
    print(f"medians of {args.repeat} runs (the first, compiling, not counted), float32")
    for name, backend, t_ours, t_hand, target, spread in rows:
        ratio = t_hand / t_ours
        verdict = "" if target is None else f"  (target >= {target:.1f}x: {'met' if ratio >= target else 'MISSED'})"
        print(f"{name}: symbackprop {backend} {t_ours:.3f} s, hand-written {backend} {t_hand:.3f} s "
              f"-> {ratio:.2f}x its speed (rounds {spread}){verdict}")


if __name__ == "__main__":
    main()
