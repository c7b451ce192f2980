"""tensorgrad's compiled training step of bench_conv's net, timed in its own process (bench_conv.py runs it).

tensorgrad 0.3.0 compiles neither max pooling's gradient ("No lowering for function 'max-grad'") nor a strided
window, and it needs PyTorch's named tensors, which PyTorch 2.13 no longer has: so this runs under a Python
where tensorgrad works (``--tensorgrad-python``), on the net with average pooling (2×2 blocks as a reshape and a
mean), and bench_conv.py times symbackprop on that same net in the same run.
Run: PYTHON benchmarks/tensorgrad_step.py PROBLEM.npz REPEAT  (prints one JSON line)
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np


def build():
    """The net in tensorgrad's index notation: loss, and its gradient for each parameter (lazy, compiled together)."""
    import tensorgrad as tg
    import tensorgrad.functions as F
    from sympy import symbols
    from tensorgrad import Variable

    b, c0, h0, w0, c1, h1, w1, k = symbols("b c0 h0 w0 c1 h1 w1 k")
    hq, wq, hp, wp, c2, h2, w2, out = symbols("hq wq hp wp c2 h2 w2 out")
    dims = {c0: 1, h0: 28, w0: 28, k: 5, c1: 8, h1: 24, w1: 24, hq: 12, wq: 12, hp: 2, wp: 2, c2: 16, h2: 8,
            w2: 8, out: 10}
    X, T = Variable("X", b, c0, h0, w0), Variable("T", b, out)
    K1, B1 = Variable("K1", c0, c1, kh=k, kw=k), Variable("B1", c1)
    K2, B2 = Variable("K2", c1, c2, kh=k, kw=k), Variable("B2", c2)
    W3, B3 = Variable("W3", c2, out), Variable("B3", out)
    a1 = F.relu(X @ F.Convolution(h0, h1, kh=k) @ F.Convolution(w0, w1, kw=k) @ K1 + B1)
    p1 = F.mean(a1 @ F.Reshape(h1, hq, hp) @ F.Reshape(w1, wq, wp), dim=("hp", "wp"))
    a2 = F.relu(p1 @ F.Convolution(hq, h2, kh=k) @ F.Convolution(wq, w2, kw=k) @ K2 + B2)
    logits = F.mean(a2, dim=("h2", "w2")) @ W3 + B3
    loss = F.mean(F.cross_entropy(logits, T, dim="out"), dim="b")
    params = {"K1": K1, "B1": B1, "K2": K2, "B2": B2, "W3": W3, "B3": B3}
    return tg, loss, params, dims, b


NAMES = {"X": ("b", "c0", "h0", "w0"), "T": ("b", "out"), "K1": ("c0", "c1", "kh", "kw"), "B1": ("c1",),
         "K2": ("c1", "c2", "kh", "kw"), "B2": ("c2",), "W3": ("c2", "out"), "B3": ("out",)}


def keep_freed_memory():
    """The allocator setting every row of bench_conv.py runs with (symbackprop may not be importable here)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "src" / "symbackprop" / "allocator.py"
    spec = importlib.util.spec_from_file_location("symbackprop_allocator", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.keep_freed_memory()


def compiled(build, lr: float):
    """(the problem saved by the benchmark (argv[1]), the steps to time (argv[2]), tensorgrad's compiled SGD step of
    the model ``build`` writes, its parameters, its sizes with the batch's, the seconds compiling took)."""
    import torch

    keep_freed_memory()
    torch.set_default_dtype(torch.float32)
    problem, repeat = np.load(sys.argv[1]), int(sys.argv[2])
    start = time.perf_counter()
    tg, loss, params, dims, b = build()
    step = tg.compile(loss=loss, state={n: p - lr * tg.grad(loss, {n: p})[n] for n, p in params.items()})
    compile_s = time.perf_counter() - start
    dims[b] = problem["X"].shape[1]
    return problem, repeat, step, params, dims, compile_s


def main():
    problem, repeat, step, _, dims, compile_s = compiled(build, 0.01)
    m = problem["X"].shape[1]
    # symbackprop's layout to tensorgrad's: W (out, in, kh, kw) -> (in, out, kh, kw); biases 1-D; samples first
    values = {"X": problem["X"].T.reshape(m, 1, 28, 28), "T": problem["Y"].T,
              "K1": problem["W1"].transpose(1, 0, 2, 3), "B1": problem["B1"].reshape(-1),
              "K2": problem["W2"].transpose(1, 0, 2, 3), "B2": problem["B2"].reshape(-1),
              "W3": problem["W3"].T, "B3": problem["B3"].reshape(-1)}
    report(step, values, NAMES, dims, repeat, compile_s)


def report(step, values: dict, names: dict, dims: dict, repeat: int, compile_s: float) -> None:
    """Time ``repeat`` steps of a compiled tensorgrad step from ``values`` (edges ``names``), each step's new state
    fed to the next, and print one JSON line: the median ms, the compile time, the first loss."""
    import torch

    feed = {n: torch.tensor(np.ascontiguousarray(v, np.float32)).refine_names(*names[n]) for n, v in values.items()}
    first = step(feed, dims=dims)
    times, state = [], dict(feed)
    for _ in range(repeat + 1):
        t = time.perf_counter()
        out = step(state, dims=dims)
        state.update({n: v.align_to(*names[n]) for n, v in out.state.items()})
        times.append(time.perf_counter() - t)
    print(json.dumps({"ms": statistics.median(times[1:]) * 1e3, "compile_s": compile_s,
                      "loss": float(first.loss.rename(None)), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
