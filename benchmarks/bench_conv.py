"""One training step of a small conv net on 28×28 inputs: symbackprop's backends against PyTorch eager autograd,
``jax.jit(jax.value_and_grad)`` of the same net, and a hand-written NumPy im2col + GEMM step, in one run.

The net (issue 18): conv 1→8 5×5, relu, max pool 2, conv 8→16 5×5, relu, global average pool, dense 10 with
softmax cross-entropy; batch 64, float32.  A step is the forward pass, the derived backward and the SGD update:
symbackprop's generated ``sgd_step`` (NumPy; PyTorch, in place), and its ``loss_and_grads`` jitted with the update
for JAX.  Each row is timed alone in a fresh process (the median of --repeat steps after one warm-up), --rounds
times, rows taken in turn; a row's time is the median of its rounds, and ratios are each symbackprop row's speed
against the named baseline.  tensorgrad (0.3.0) compiles no max-pooling gradient and needs PyTorch's named tensors
(gone in PyTorch 2.13): it runs under --tensorgrad-python (``tensorgrad_step.py``) on the same net with average
pooling, against symbackprop's backends on that net.  Every row runs with glibc keeping freed memory for the next
step, as ``symbackprop train`` sets it for image networks (``symbackprop.allocator``).
Also: derivation + code generation + compile time, and the peak resident memory each step adds in a fresh
process (``--memory``).
Run: python benchmarks/bench_conv.py [--repeat 21] [--rounds 3] [--tensorgrad-python PY] [--memory]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPEC = "1x28x28-conv8k5:relu-maxpool2-conv16k5:relu-gap-10:softmax"
AVG_SPEC = "1x28x28-conv8k5:relu-avgpool2-conv16k5:relu-gap-10:softmax"  # what tensorgrad compiles
BATCH = 64


def interleaved(fns, repeat):
    """Median time of each function, running them in turn so that machine noise hits all alike."""
    times = [[] for _ in fns]
    for _ in range(repeat + 1):
        for k, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return [statistics.median(ts[1:]) for ts in times]


def problem(dtype=np.float32, pool="max"):
    from symbackprop import parse_spec
    from symbackprop.train import init_params

    net = parse_spec(SPEC if pool == "max" else AVG_SPEC)
    rng = np.random.default_rng(0)
    params = {k: v.astype(dtype) for k, v in init_params(net, rng).items()}
    X = rng.normal(size=(784, BATCH)).astype(dtype)
    Y = np.eye(10, dtype=dtype)[:, rng.integers(0, 10, BATCH)]
    return net, params, X, Y


# -- baselines -------------------------------------------------------------------------------------------------
def numpy_im2col_step(params, X, Y, lr=0.01):
    """Hand-written NumPy: im2col (a strided view) + GEMM forward, the same backward by hand, SGD."""
    from numpy.lib.stride_tricks import sliding_window_view as windows

    m = X.shape[1]
    x = X.T.reshape(m, 1, 28, 28)

    def conv(a, W, B):
        cols = windows(a, (5, 5), axis=(2, 3))  # (m, C, OH, OW, 5, 5)
        z = np.tensordot(cols, W, axes=([1, 4, 5], [1, 2, 3]))  # (m, OH, OW, O)
        return z.transpose(0, 3, 1, 2) + B[None, :, None, None], cols

    def conv_back(g, cols, W, shape):
        dW = np.tensordot(g, cols, axes=([0, 2, 3], [0, 2, 3]))  # (O, C, 5, 5)
        dcols = np.tensordot(g, W, axes=([1], [0]))  # (m, OH, OW, C, 5, 5)
        dx = np.zeros(shape, g.dtype)
        for a in range(5):
            for b in range(5):
                dx[:, :, a:a + g.shape[2], b:b + g.shape[3]] += dcols[:, :, :, :, a, b].transpose(0, 3, 1, 2)
        return dW, g.sum(axis=(0, 2, 3)), dx

    z1, cols1 = conv(x, params["W1"], params["B1"])
    a1 = np.maximum(z1, 0)
    m1, c1, h1, w1 = a1.shape
    blocks = a1.reshape(m1, c1, h1 // 2, 2, w1 // 2, 2)
    p1 = blocks.max(axis=(3, 5))
    z2, cols2 = conv(p1, params["W2"], params["B2"])
    a2 = np.maximum(z2, 0)
    g2 = a2.mean(axis=(2, 3))  # (m, 16)
    logits = g2 @ params["W3"].T + params["B3"][:, 0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    dlog = (probs - Y.T) / m
    dW3, dB3 = dlog.T @ g2, dlog.sum(axis=0)[:, None]
    dg2 = dlog @ params["W3"]
    da2 = np.broadcast_to(dg2[:, :, None, None] / (a2.shape[2] * a2.shape[3]), a2.shape)
    dz2 = da2 * (z2 > 0)
    dW2, dB2, dp1 = conv_back(dz2, cols2, params["W2"], p1.shape)
    first = blocks == p1[:, :, :, None, :, None]  # the window's maxima (ties are measure-zero here)
    da1 = (first * dp1[:, :, :, None, :, None]).reshape(a1.shape)
    dz1 = da1 * (z1 > 0)
    dW1, dB1, _ = conv_back(dz1, cols1, params["W1"], x.shape)
    for name, g in (("W1", dW1), ("B1", dB1), ("W2", dW2), ("B2", dB2), ("W3", dW3), ("B3", dB3)):
        params[name] -= lr * g


def torch_eager(params, X, Y):
    import torch
    import torch.nn.functional as F

    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x = torch.tensor(X.T.reshape(-1, 1, 28, 28).copy())
    y = torch.tensor(Y.argmax(axis=0))

    def step(lr=0.01):
        h = F.max_pool2d(F.relu(F.conv2d(x, p["W1"], p["B1"])), 2)
        h = F.relu(F.conv2d(h, p["W2"], p["B2"])).mean(dim=(2, 3))
        loss = F.cross_entropy(h @ p["W3"].T + p["B3"][:, 0], y)
        for v in p.values():
            v.grad = None
        loss.backward()
        with torch.no_grad():
            for v in p.values():
                v -= lr * v.grad
    return step


def jax_value_and_grad(params, X, Y):
    import jax
    import jax.numpy as jnp

    def loss(p, x, y):
        def conv(a, W, B):
            z = jax.lax.conv_general_dilated(a, W, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
            return z + B[None, :, None, None]
        h = jax.nn.relu(conv(x, p["W1"], p["B1"]))
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        h = jax.nn.relu(conv(h, p["W2"], p["B2"])).mean(axis=(2, 3))
        logits = h @ p["W3"].T + p["B3"][:, 0]
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits, axis=1), axis=1))

    @jax.jit
    def step(p, x, y):
        value, grads = jax.value_and_grad(loss)(p, x, y)
        return {k: p[k] - 0.01 * grads[k] for k in p}, value

    state = {"p": {k: jnp.asarray(v) for k, v in params.items()}}
    x, y = jnp.asarray(X.T.reshape(-1, 1, 28, 28)), jnp.asarray(Y.T)

    def run():
        state["p"], value = step(state["p"], x, y)
        value.block_until_ready()
    return run


# -- symbackprop ------------------------------------------------------------------------------------------------
def ours(backend, net, params, X, Y):
    from symbackprop.backends import framework_module, numpy_module

    if backend == "numpy":
        mod, p = numpy_module(net), {k: v.copy() for k, v in params.items()}
        return lambda: mod.sgd_step(p, X, Y, 0.01)
    if backend == "torch":
        import torch

        mod = framework_module(net, "torch")
        p = {k: torch.tensor(v) for k, v in params.items()}
        x, y = torch.tensor(X), torch.tensor(Y)
        return lambda: mod.sgd_step(p, x, y, 0.01)
    import jax
    import jax.numpy as jnp

    mod = framework_module(net, "jax")
    step = jax.jit(mod.sgd_step)
    state = {"p": {k: jnp.asarray(v) for k, v in params.items()}}
    x, y = jnp.asarray(X), jnp.asarray(Y)

    def run():
        state["p"], value = step(state["p"], x, y, 0.01)
        value.block_until_ready()
    return run


def peak_memory(which: str) -> float:
    """MiB the peak resident set grows by during one step of ``which``, in a fresh process (Linux)."""
    code = f"""
import sys, numpy as np
sys.path.insert(0, {str(__file__.rsplit('/', 1)[0])!r})
import bench_conv as b
net, params, X, Y = b.problem()
run = {{"numpy": lambda: b.ours("numpy", net, params, X, Y), "torch": lambda: b.ours("torch", net, params, X, Y),
        "torch eager": lambda: b.torch_eager(params, X, Y),
        "im2col": lambda: (lambda: b.numpy_im2col_step(dict(params), X, Y))}}[{which!r}]()
def status(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field + ":"))
before = status("VmRSS")  # KiB resident now, the code compiled
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # the kernel resets the peak (VmHWM) to what is resident now
run()
print((status("VmHWM") - before) / 1024)
"""
    # the step's own growth: its peak resident set less what was resident just before it (after compiling)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


ROWS = {  # name: (baseline it is compared with, the net's pooling)
    "PyTorch eager autograd": (None, "max"),
    "jax.jit(jax.value_and_grad)": (None, "max"),
    "hand-written NumPy im2col + GEMM": (None, "max"),
    "symbackprop numpy (sgd_step)": ("hand-written NumPy im2col + GEMM", "max"),
    "symbackprop jax (jitted sgd_step)": ("jax.jit(jax.value_and_grad)", "max"),
    "symbackprop torch (sgd_step)": ("PyTorch eager autograd", "max"),
    "tensorgrad compiled step": (None, "avg"),
    "symbackprop numpy, avg pool": ("tensorgrad compiled step", "avg"),
    "symbackprop jax, avg pool": ("tensorgrad compiled step", "avg"),
    "symbackprop torch, avg pool": ("tensorgrad compiled step", "avg"),
}
BACKEND = {"numpy": "numpy", "jax": "jax", "torch": "torch"}


def step_of(name: str, pool: str):
    """The step function a row times, built on the problem (the same weights and batch for every row)."""
    net, params, X, Y = problem(pool=pool)
    if name == "PyTorch eager autograd":
        return torch_eager(params, X, Y)
    if name == "jax.jit(jax.value_and_grad)":
        return jax_value_and_grad(params, X, Y)
    if name == "hand-written NumPy im2col + GEMM":
        return lambda: numpy_im2col_step({k: v.copy() for k, v in params.items()}, X, Y)
    backend = name.split()[1].rstrip(",")
    return ours(backend, net, params, X, Y)


def time_row(name: str, repeat: int) -> float:
    """Median seconds of one step of row ``name`` in this process (the first step warms up, uncounted), with the
    allocator setting symbackprop's trainer makes for image networks (every row alike)."""
    from symbackprop.allocator import keep_freed_memory

    keep_freed_memory()
    run = step_of(name, ROWS[name][1])
    return interleaved([run], repeat)[0]


def in_fresh_process(name: str, repeat: int, tensorgrad_python: str | None) -> float | None:
    """Median ms of row ``name``, timed alone in a fresh process: libraries' worker threads (OpenBLAS, OpenMP,
    XLA) spin for a while after each call, so rows sharing a process slow each other unevenly."""
    if name == "tensorgrad compiled step":
        if not tensorgrad_python:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            _, params, X, Y = problem(pool="avg")
            np.savez(f"{tmp}/problem.npz", X=X, Y=Y, **params)
            here = Path(__file__).with_name("tensorgrad_step.py")
            out = subprocess.run([tensorgrad_python, str(here), f"{tmp}/problem.npz", str(repeat)],
                                 capture_output=True, text=True)
        if out.returncode:
            print(f"tensorgrad failed under {tensorgrad_python}: {out.stderr.strip().splitlines()[-1:]}")
            return None
        return json.loads(out.stdout.strip().splitlines()[-1])["ms"]
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_conv as b; "
            f"print(b.time_row({name!r}, {repeat}) * 1e3)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def find_tensorgrad(given: str | None) -> str | None:
    """A Python that runs tensorgrad: the one given, else this one when tensorgrad works here."""
    if given:
        return given
    probe = subprocess.run([sys.executable, "-c", "import torch, tensorgrad; torch.zeros(1).refine_names('a')"],
                           capture_output=True, text=True)
    return sys.executable if probe.returncode == 0 else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=21, help="steps timed in each process (median)")
    ap.add_argument("--rounds", type=int, default=3, help="fresh processes per row, rows taken in turn")
    ap.add_argument("--tensorgrad-python", help="a Python where tensorgrad runs (it needs PyTorch's named "
                    "tensors, gone from PyTorch 2.13), e.g. a venv with torch 2.9 and tensorgrad 0.3.0")
    ap.add_argument("--memory", action="store_true", help="also the peak memory of one step in a fresh process")
    ap.add_argument("--verbose", action="store_true", help="print every round's time")
    args = ap.parse_args()

    start = time.perf_counter()
    from symbackprop import derive

    d = derive(SPEC)
    d.compile("numpy")
    print(f"{SPEC}, batch {BATCH}, float32; derivation + NumPy code generation: "
          f"{time.perf_counter() - start:.2f} s")
    tg_python = find_tensorgrad(args.tensorgrad_python)
    runs: dict[str, list[float]] = {name: [] for name in ROWS}
    for _ in range(args.rounds):
        for name in ROWS:
            ms = in_fresh_process(name, args.repeat, tg_python)
            if ms is not None:
                runs[name].append(ms)
                if args.verbose:
                    print(f"  {name}: {ms:.2f} ms", flush=True)
    times = {name: statistics.median(ms) for name, ms in runs.items() if ms}
    print(f"{'step':<36} {'ms':>7}  speed vs baseline (median of {args.rounds} fresh processes, each the median "
          f"of {args.repeat} steps)")
    for name, t in times.items():
        base = ROWS[name][0]
        ratio = f"{times[base] / t:.2f}x {base}" if base in times else ""
        print(f"{name:<36} {t:>7.2f}  {ratio}")
    ours_max = [n for n in times if n.startswith("symbackprop") and ROWS[n][1] == "max"]
    fastest = min(ours_max, key=times.get)
    print(f"fastest symbackprop backend: {fastest}, {times['PyTorch eager autograd'] / times[fastest]:.2f}x "
          "PyTorch eager")
    if "tensorgrad compiled step" not in times:
        print("tensorgrad: not measured (no Python where it runs: give --tensorgrad-python)")
    if args.memory:
        print(json.dumps({w: round(peak_memory(w), 1) for w in ("numpy", "torch", "torch eager", "im2col")}),
              "MiB: the peak resident memory one step adds, each in a fresh process with its code compiled first")


if __name__ == "__main__":
    main()
