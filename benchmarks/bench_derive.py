"""How long derivation takes: matrix form by width and depth, per-entry form for 3-n-1,
against the fully substituted SymPy approach it replaces (build C(X, Y, W, B), diff by every entry).

Run: python benchmarks/bench_derive.py [--max-n 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import sympy as sp

from symbackprop import derive
from symbackprop.naming import symbols


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cold_time(spec, cost):
    """Derive in a fresh process (SymPy derives each activation's derivative once per process)."""
    code = ("import time; from symbackprop import derive; t = time.perf_counter(); "
            f"derive({spec!r}, {cost!r}); print(time.perf_counter() - t)")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout)


def substituted_baseline(spec):
    """What one writes without symbackprop: substitute everything into the cost and diff each entry."""
    net = derive(spec).network
    A = symbols("X", (net.inputs, 1))
    for layer, dense in enumerate(net.layers, start=1):
        Z = symbols(f"W{layer}", net.shapes()[f"W{layer}"]) * A + symbols(f"B{layer}", (dense.width, 1))
        A = Z.applyfunc(dense.activation.at)
    Y = symbols("Y", (net.outputs, 1))
    cost = sum((a - y) ** 2 for a, y in zip(A, Y))
    params = [s for name, shape in net.shapes().items() for s in symbols(name, shape)]
    return [sp.diff(cost, p) for p in params]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-n", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-limit", type=float, default=20.0, help="stop the baseline past this many s")
    args = ap.parse_args()

    print("Matrix form (median of", args.repeat, "runs)")
    print(f"{'network':<40} {'params':>8} {'warm s':>8} {'cold s':>8}")
    for spec, cost in [("3-3:relu-1:logistic", "squared_error"),
                       ("64-64:relu-10:softmax", "cross_entropy"),
                       ("784-128:relu-10:softmax", "cross_entropy"),
                       ("784-256:relu-128:relu-64:relu-10:softmax", "cross_entropy")]:
        t = median_time(lambda spec=spec, cost=cost: derive(spec, cost), args.repeat)
        cold = statistics.median(cold_time(spec, cost) for _ in range(args.repeat))
        print(f"{spec:<40} {derive(spec, cost).network.n_params:>8} {t:>8.3f} {cold:>8.3f}")

    print()
    print("Depth: derive and print the text of 2-(2:relu)^L-1:logistic (median of", args.repeat, "runs); the cost per")
    print("layer should stay flat (linear in depth; the chain rule is written out only while it is small)")
    print(f"{'layers':>7} {'s':>8} {'ms/layer':>9} {'vs 100 layers':>14}")
    per_100 = None
    for depth in (100, 300, 1000, 3000):
        spec = "2-" + "-".join(["2:relu"] * depth) + "-1:logistic"
        t = median_time(lambda spec=spec: derive(spec).to_text(), args.repeat)
        per_layer = t / depth
        per_100 = per_100 or per_layer
        print(f"{depth:>7} {t:>8.3f} {per_layer * 1e3:>9.2f} {per_layer / per_100:>13.2f}x")

    print()
    print("Per-entry form of 3-n:relu-1:logistic against the fully substituted SymPy baseline")
    print(f"{'n':>3} {'params':>7} {'per-entry s':>12} {'substituted s':>14} {'ratio':>7}")
    baseline_on = True
    for n in range(1, args.max_n + 1):
        spec = f"3-{n}:relu-1:logistic"
        ours = median_time(lambda spec=spec: derive(spec).entries.gradients, args.repeat)
        base, ratio = "", ""
        if baseline_on:
            b = median_time(lambda spec=spec: substituted_baseline(spec), 1)
            base, ratio = f"{b:.3f}", f"{b / ours:.1f}x"
            baseline_on = b < args.baseline_limit
        params = derive(spec).network.n_params
        print(f"{n:>3} {params:>7} {ours:>12.3f} {base:>14} {ratio:>7}")


if __name__ == "__main__":
    main()
