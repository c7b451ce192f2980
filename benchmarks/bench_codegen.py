"""How the cost of a new architecture grows: a fresh process, an empty code cache, per-sample SGD.

For widths 3..64 (two hidden ReLU layers) and depths 1..50 (3-wide ReLU layers), it times a fresh
Python process that derives the network, generates and compiles its per-sample code and runs 1 step
(the time to the first step), then one that runs 20,000 steps; each on its own empty cache folder.
Targets: 3-40:relu-40:relu-1:logistic and depth 31 within 20 s; growth no faster than the work.

Run: python benchmarks/bench_codegen.py [--repeat 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

SCRIPT = """
import sys
import numpy as np
import symbackprop
X = np.random.default_rng(0).normal(size=(500, 3))
y = (X[:, 0] * X[:, 1] > 0).astype(int)
symbackprop.train(sys.argv[1], X, y, iterations=int(sys.argv[2]), lr=0.01, seed=1, progress=False)
"""


def spec(width: int, depth: int) -> str:
    return "3-" + "-".join(f"{width}:relu" for _ in range(depth)) + "-1:logistic"


def fresh(net: str, steps: int) -> float:
    with tempfile.TemporaryDirectory() as cache:
        env = {**__import__("os").environ, "SYMBACKPROP_CACHE_DIR": cache}
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", SCRIPT, net, str(steps)], check=True, env=env)
        return time.perf_counter() - t


def symbackprop_params(net: str) -> int:
    import symbackprop

    return symbackprop.parse_spec(net).n_params


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="runs per row (the median is shown)")
    args = ap.parse_args()
    rows = [(w, 2) for w in (3, 8, 16, 32, 40, 64)] + [(3, d) for d in (1, 4, 8, 16, 31, 50)]
    print("| network | parameters | to the first step (s) | 20,000 steps (s) |")
    print("|---|---:|---:|---:|")
    base = None
    for width, depth in rows:
        net = spec(width, depth)
        first = statistics.median(fresh(net, 1) for _ in range(args.repeat))
        full = statistics.median(fresh(net, 20_000) for _ in range(args.repeat))
        base = base or first
        label = net if len(net) < 40 else f"3-({width}:relu)×{depth}-1:logistic"
        print(f"| {label} | {symbackprop_params(net):,} | {first:.2f} | {full:.2f} |", flush=True)
    print(f"\nFresh process, empty cache each run; medians of {args.repeat}. The first row's time to the first step, "
          f"{base:.2f} s, is mostly starting Python and importing SymPy, NumPy and numba.")


if __name__ == "__main__":
    main()
