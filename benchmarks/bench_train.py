"""Training speed against named baselines measured in the same run (medians of --repeat runs).

1. Per-sample SGD, 100,000 steps of the textbook's 3-3-1 font network (lr 0.05), against the
   textbook-style NumPy loop and a hand-written numba loop (targets: >= 100x and >= 0.8x its speed);
   and of 3-40:relu-40:relu-1:logistic against a hand-written numba loop (target >= 0.5x its speed).
2. Mini-batch SGD on scikit-learn's digits, 64-64:relu-10:softmax with cross-entropy, batch 32,
   against a hand-written NumPy loop (target >= 1.0x) and PyTorch CPU autograd (target: faster); and the same
   with Adam against symbackprop's own SGD (NumPy: target >= 0.7x its speed; JAX and PyTorch: >= 0.9x).

Run: python benchmarks/bench_train.py [--repeat 5] [--epochs 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from symbackprop import derive
from symbackprop.backends import per_sample_module
from symbackprop.demo import font_colour_data
from symbackprop.train import init_params, train


def timed(fn, repeat):
    return interleaved([fn], repeat)[0]


PAUSE = 0.1  # seconds before each timed run: the worker threads of the previous run (OpenBLAS, XLA) spin for a while
# and would slow the next on this 2-core machine


def interleaved(fns, repeat, rounds=None):
    """Median time of each function, running them in turn so that machine noise hits all alike; ``rounds`` (a
    list) receives each round's times, for the spread of the ratios."""
    times = [[] for _ in fns]
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            time.sleep(PAUSE)
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    if rounds is not None:
        rounds.extend(zip(*times))
    return [statistics.median(ts) for ts in times]


def spread(rounds, a: int, b: int) -> str:
    """The lowest and highest, over the rounds, of time[a] / time[b]: b's speed as a multiple of a's."""
    ratios = sorted(r[a] / r[b] for r in rounds)
    return f"{ratios[0]:.2f}-{ratios[-1]:.2f}"


# -- the textbook's loop: NumPy, one random sample a step -----------------------------------------
def textbook_loop(X, Y, params, steps, lr, seed):
    """As the chapter writes it: forward_prop / backward_prop with NumPy on one sample per step."""
    rng = np.random.default_rng(seed)
    W1, B1, W2, B2 = (params[k].copy() for k in ("W1", "B1", "W2", "B2"))
    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    logistic = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    d_relu = lambda x: x > 0  # noqa: E731
    d_logistic = lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2  # noqa: E731
    n = X.shape[1]
    for _ in range(steps):
        idx = rng.choice(n, 1, replace=False)
        x, y = X[:, idx], Y[:, idx]
        Z1 = W1 @ x + B1
        A1 = relu(Z1)
        Z2 = W2 @ A1 + B2
        A2 = logistic(Z2)
        dC_dA2 = 2 * A2 - 2 * y
        dA2_dZ2 = d_logistic(Z2)
        dZ2_dA1 = W2
        dZ2_dW2 = A1
        dA1_dZ1 = d_relu(Z1)
        dZ1_dW1 = x
        dC_dW2 = dC_dA2 @ dA2_dZ2 @ dZ2_dW2.T
        dC_dB2 = dC_dA2 @ dA2_dZ2
        dC_dA1 = dC_dA2 @ dA2_dZ2 @ dZ2_dA1
        dC_dW1 = dC_dA1.T * dA1_dZ1 @ dZ1_dW1.T
        dC_dB1 = dC_dA1.T * dA1_dZ1
        W1 -= lr * dC_dW1
        B1 -= lr * dC_dB1
        W2 -= lr * dC_dW2
        B2 -= lr * dC_dB2
    return W1, B1, W2, B2


def make_numba_loop():
    from numba import njit

    @njit(cache=False)
    def loop(W1, B1, W2, B2, X, Y, order, lr):
        h = W1.shape[0]
        z1 = np.empty(h)
        a1 = np.empty(h)
        for step in range(order.shape[0]):
            k = order[step]
            for i in range(h):
                s = B1[i, 0]
                for j in range(X.shape[0]):
                    s += W1[i, j] * X[j, k]
                z1[i] = s
                a1[i] = s if s > 0.0 else 0.0
            z2 = B2[0, 0]
            for i in range(h):
                z2 += W2[0, i] * a1[i]
            a2 = 1.0 / (1.0 + np.exp(-z2))
            d2 = (2.0 * a2 - 2.0 * Y[0, k]) * a2 * (1.0 - a2)
            for i in range(h):
                d1 = d2 * W2[0, i] * (1.0 if z1[i] > 0.0 else 0.0)
                W2[0, i] -= lr * d2 * a1[i]
                for j in range(X.shape[0]):
                    W1[i, j] -= lr * d1 * X[j, k]
                B1[i, 0] -= lr * d1
            B2[0, 0] -= lr * d2

    return loop


def make_numba_loop_two_hidden():
    """A hand-written numba loop for 3-h1:relu-h2:relu-1:logistic with explicit arrays for every layer."""
    from numba import njit

    @njit(cache=False)
    def loop(W1, B1, W2, B2, W3, B3, X, Y, order, lr):
        h1, h2, n = W1.shape[0], W2.shape[0], X.shape[0]
        z1, a1, d1 = np.empty(h1), np.empty(h1), np.empty(h1)
        z2, a2, d2 = np.empty(h2), np.empty(h2), np.empty(h2)
        for step in range(order.shape[0]):
            k = order[step]
            for i in range(h1):
                s = B1[i, 0]
                for j in range(n):
                    s += W1[i, j] * X[j, k]
                z1[i] = s
                a1[i] = s if s > 0.0 else 0.0
            for i in range(h2):
                s = B2[i, 0]
                for j in range(h1):
                    s += W2[i, j] * a1[j]
                z2[i] = s
                a2[i] = s if s > 0.0 else 0.0
            z3 = B3[0, 0]
            for i in range(h2):
                z3 += W3[0, i] * a2[i]
            a3 = 1.0 / (1.0 + np.exp(-z3))
            d3 = (2.0 * a3 - 2.0 * Y[0, k]) * a3 * (1.0 - a3)
            for i in range(h2):
                d2[i] = d3 * W3[0, i] * (1.0 if z2[i] > 0.0 else 0.0)
            for i in range(h1):
                s = 0.0
                for j in range(h2):
                    s += W2[j, i] * d2[j]
                d1[i] = s * (1.0 if z1[i] > 0.0 else 0.0)
            for i in range(h2):
                W3[0, i] -= lr * d3 * a2[i]
            B3[0, 0] -= lr * d3
            for i in range(h2):
                for j in range(h1):
                    W2[i, j] -= lr * d2[i] * a1[j]
                B2[i, 0] -= lr * d2[i]
            for i in range(h1):
                for j in range(n):
                    W1[i, j] -= lr * d1[i] * X[j, k]
                B1[i, 0] -= lr * d1[i]

    return loop


def font_problem(spec: str, steps: int = 100_000):
    """The font data (rows and columns), a network with its initial parameters, a sample order, its module."""
    X, y = font_colour_data(1345, seed=0)
    Xt, Y = (X / 255).T.copy(), y.reshape(1, -1).astype(float)
    net = derive(spec).network
    params = init_params(net, np.random.default_rng(1), X=Xt)
    order = np.random.default_rng(1).integers(0, Xt.shape[1], steps)
    return X, y, Xt, Y, net, params, order, per_sample_module(net)


def per_sample_wide(repeat):
    """3-40:relu-40:relu-1:logistic: the generated loop against a hand-written numba loop (target >= 0.5x)."""
    X, y, Xt, Y, net, params, order, module = font_problem("3-40:relu-40:relu-1:logistic")
    steps, lr = len(order), 0.01
    hand = make_numba_loop_two_hidden()

    def ours():
        module.sgd(*[params[k].copy() for k in net.shapes()], Xt, Y, order, lr, steps, np.zeros(1))

    def hand_numba():
        hand(*[params[k].copy() for k in net.shapes()], Xt, Y, order, lr)

    ours(), hand_numba()
    t_ours, t_numba = interleaved([ours, hand_numba], repeat)
    print()
    print("Per-sample SGD, 100,000 steps, 3-40:relu-40:relu-1:logistic (median seconds)")
    print(f"  {'hand-written numba loop':<34} {t_numba:9.4f} s  {steps / t_numba / 1e6:8.2f} M steps/s")
    print(f"  {'symbackprop generated loop':<34} {t_ours:9.4f} s  {steps / t_ours / 1e6:8.2f} M steps/s")
    print(f"  generated loop vs hand numba:    {t_numba / t_ours:.2f}x the speed (target >= 0.5x)")


def per_sample(repeat):
    X, y, Xt, Y, net, params, order, module = font_problem("3-3:relu-1:logistic")
    steps, lr = len(order), 0.05

    def ours():
        arrays = [params[k].copy() for k in net.shapes()]
        module.sgd(*arrays, Xt, Y, order, lr, steps, np.zeros(1))

    def ours_train():
        train(net, X, y, scale=255, iterations=steps, lr=lr, seed=1, progress=False)

    numba_loop = make_numba_loop()

    def hand_numba():
        numba_loop(*(params[k].copy() for k in ("W1", "B1", "W2", "B2")), Xt, Y, order, lr)

    ours(), hand_numba(), ours_train()  # compile / warm the caches
    t_ours, t_train, t_numba = interleaved([ours, ours_train, hand_numba], repeat)
    t_book = timed(lambda: textbook_loop(Xt, Y, params, steps, lr, 1), max(1, repeat // 2))
    print("Per-sample SGD, 100,000 steps, 3-3:relu-1:logistic (median seconds)")
    rows = [("textbook-style NumPy loop", t_book), ("hand-written numba loop", t_numba),
            ("symbackprop generated loop", t_ours), ("symbackprop train() (whole call)", t_train)]
    for name, t in rows:
        print(f"  {name:<34} {t:9.4f} s  {steps / t / 1e6:8.2f} M steps/s")
    print(f"  generated loop vs textbook loop: {t_book / t_ours:,.0f}x faster (target >= 100x)")
    print(f"  generated loop vs hand numba:    {t_numba / t_ours:.2f}x the speed (target >= 0.8x)")
    print(f"  train() vs textbook loop:        {t_book / t_train:,.0f}x faster")


def hand_numpy_minibatch(X, Y, params, epochs, bs, lr, seed):
    rng = np.random.default_rng(seed)
    W1, B1, W2, B2 = (params[k].copy() for k in ("W1", "B1", "W2", "B2"))
    m = X.shape[1]
    for _ in range(epochs):
        order = rng.permutation(m)
        for s in range(0, m, bs):
            idx = order[s:s + bs]
            x, y = X[:, idx], Y[:, idx]
            n = x.shape[1]
            Z1 = W1 @ x + B1
            A1 = np.maximum(Z1, 0)
            Z2 = W2 @ A1 + B2
            e = np.exp(Z2 - Z2.max(axis=0, keepdims=True))
            A2 = e / e.sum(axis=0, keepdims=True)
            dZ2 = (A2 - y) / n
            dW2, dB2 = dZ2 @ A1.T, dZ2.sum(axis=1, keepdims=True)
            dZ1 = (W2.T @ dZ2) * (Z1 > 0)
            dW1, dB1 = dZ1 @ x.T, dZ1.sum(axis=1, keepdims=True)
            W1 -= lr * dW1
            B1 -= lr * dB1
            W2 -= lr * dW2
            B2 -= lr * dB2


def torch_minibatch(X, Y, params, epochs, bs, lr, seed):
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    Xt, labels = torch.tensor(X), torch.tensor(Y.argmax(axis=0))
    m = X.shape[1]
    for _ in range(epochs):
        order = torch.tensor(rng.permutation(m))
        for s in range(0, m, bs):
            idx = order[s:s + bs]
            z1 = p["W1"] @ Xt[:, idx] + p["B1"]
            z2 = p["W2"] @ torch.relu(z1) + p["B2"]
            loss = torch.nn.functional.cross_entropy(z2.T, labels[idx])
            for v in p.values():
                v.grad = None
            loss.backward()
            with torch.no_grad():
                for v in p.values():
                    v -= lr * v.grad


def mini_batch(repeat, epochs):
    from sklearn.datasets import load_digits

    digits = load_digits()
    X, y = digits.data, digits.target
    Xt = (X / 16).T.copy()
    Y = np.eye(10)[:, y]
    net = derive("64-64:relu-10:softmax", "cross_entropy").network
    params = init_params(net, np.random.default_rng(0), X=Xt)
    bs, lr = 32, 0.1

    def ours():
        train(net, X, y, scale=16, batch_size=bs, epochs=epochs, lr=lr, seed=0, progress=False)

    def ours_adam():
        train(net, X, y, scale=16, batch_size=bs, epochs=epochs, seed=0, progress=False, optimizer="adam")

    ours(), ours_adam()
    rounds = []
    t_ours, t_np, t_adam = interleaved([ours, lambda: hand_numpy_minibatch(Xt, Y, params, epochs, bs, lr, 0),
                                        ours_adam], repeat, rounds)
    print()
    print(f"Mini-batch SGD on digits (1797 x 64), 64-64:relu-10:softmax, batch {bs}, {epochs} epochs, float64")
    print(f"  {'hand-written NumPy loop':<34} {t_np:9.4f} s")
    print(f"  {'symbackprop train()':<34} {t_ours:9.4f} s")
    print(f"  symbackprop vs hand NumPy: {t_np / t_ours:.2f}x the speed (rounds {spread(rounds, 1, 0)}; "
          "target >= 1.0x)")
    print(f"  {'symbackprop train(optimizer=adam)':<34} {t_adam:9.4f} s")
    print(f"  Adam vs its own SGD:       {t_ours / t_adam:.2f}x the speed (rounds {spread(rounds, 0, 2)}; "
          "target >= 0.7x)")
    for backend in ("jax", "torch"):
        adam_against_sgd(X, y, epochs, backend, repeat)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("  PyTorch is not installed: no PyTorch baseline")
        return
    torch_minibatch(Xt, Y, params, 1, bs, lr, 0)
    t_torch = timed(lambda: torch_minibatch(Xt, Y, params, epochs, bs, lr, 0), repeat)
    print(f"  {'PyTorch CPU autograd':<34} {t_torch:9.4f} s")
    print(f"  symbackprop vs PyTorch:    {t_torch / t_ours:.2f}x the speed (target > 1x)")


def adam_against_sgd(X, y, epochs, backend, repeat):
    """Adam's training time against SGD's on another backend (target: >= 0.9x its speed), float64 and float32;
    momentum (a state, no square root) and RMSprop (a square root and a division, one state) beside it show what
    Adam's rule spends its time on."""
    try:
        __import__(backend)
    except ImportError:
        print(f"  {backend} is not installed: no {backend} row")
        return
    names = ("sgd", "momentum", "rmsprop", "adam")
    for dtype in ("float64", "float32"):
        def run(optimizer, dtype=dtype):
            return lambda: train("64-64:relu-10:softmax", X, y, scale=16, batch_size=32, epochs=epochs, seed=0,
                                 progress=False, optimizer=optimizer, backend=backend, dtype=dtype)

        fns = [run(name) for name in names]
        for fn in fns:
            fn()
        rounds = []
        times = interleaved(fns, repeat, rounds)
        others = ", ".join(f"{name} {times[0] / t:.2f}x" for name, t in zip(names[1:-1], times[1:-1]))
        print(f"  {backend} {dtype}: SGD {times[0]:.4f} s, Adam {times[-1]:.4f} s: Adam {times[0] / times[-1]:.2f}x "
              f"its SGD's speed (rounds {spread(rounds, 0, 3)}; target >= 0.9x); {others}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    per_sample(args.repeat)
    per_sample_wide(args.repeat)
    mini_batch(args.repeat, args.epochs)


if __name__ == "__main__":
    main()
