"""Where splitting a batch over the cores pays (backends/shares.py): the NumPy backend's SGD step split in 2 shares
against the unsplit step, in one process, interleaved, for networks and batch sizes from tiny to the small GPT.

A row prints the step's values (the entries of its forward values and δs over the batch: what ``MIN_VALUES``
measures), the unsplit step's median time and the split step's speed as a multiple of it (the median over rounds,
and the lowest and highest round), each mode timed after a warm-up of its own.  ``shares.MIN_VALUES`` is about
where the ratio passes 1 on a 2-core machine.
Run: python benchmarks/bench_shares.py [--rounds 3] [--dtype float64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

GPT = ("64-embed65d64-pos64d64-res(layernorm+attn4)-res(layernorm+256:gelu_tanh+64:identity)-res(layernorm+attn4)-"
       "res(layernorm+256:gelu_tanh+64:identity)-layernorm-65:softmax")  # bench_sequence.py's model
CASES = [("64-64:relu-10:softmax", 32), ("64-64:relu-10:softmax", 256), ("784-256:relu-10:softmax", 128),
         ("784-256:relu-10:softmax", 512), ("64-256:tanh-256:tanh-10:softmax", 512),
         ("64-256:tanh-256:tanh-10:softmax", 2048),
         ("8-embed27d16-pos8d16-64:layernorm:gelu_tanh-27:softmax", 64),
         ("8-embed27d16-pos8d16-64:layernorm:gelu_tanh-27:softmax", 512),
         ("8-embed27d16-pos8d16-64:layernorm:gelu_tanh-27:softmax", 2048),
         ("16-embed27d32-pos16d32-res(layernorm+attn2)-27:softmax", 32),
         ("16-embed27d32-pos16d32-res(layernorm+attn2)-27:softmax", 256),
         ("16-embed27d32-pos16d32-res(layernorm+attn2)-27:softmax", 1024),
         ("16-embed27d32-pos16d32-res(layernorm+attn2)-res(layernorm+128:gelu_tanh+32:identity)-27:softmax", 256),
         ("32-embed65d64-pos32d64-res(layernorm+attn4)-res(layernorm+256:gelu_tanh+64:identity)-65:softmax", 32),
         (GPT, 4), (GPT, 8), (GPT, 16)]


def problem(spec: str, m: int, dtype):
    from symbackprop import parse_spec
    from symbackprop.train import init_params

    net = parse_spec(spec)
    rng = np.random.default_rng(0)
    params = {k: v.astype(dtype) for k, v in init_params(net, rng).items()}
    if net.positions:
        X = rng.integers(0, net.vocab, (net.positions, m)).astype(dtype)
        Y = np.eye(net.outputs, dtype=dtype)[rng.integers(0, net.outputs, (net.positions, m))].transpose(2, 0, 1)
    else:
        X = rng.normal(size=(net.inputs, m)).astype(dtype)
        Y = np.eye(net.outputs, dtype=dtype)[:, rng.integers(0, net.outputs, m)]
    return net, params, X, Y


WARM = 6  # steps run before a mode is timed: after a switch the first ~4 run up to 2x slow (measured), while the
# allocator settles into the other mode's array sizes; training runs one mode throughout


def median_ms(fn, n: int) -> float:
    for _ in range(WARM):
        fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def row(spec: str, m: int, rounds: int, dtype) -> str:
    from symbackprop.backends import numpy_module, program_of, shares

    net, params, X, Y = problem(spec, m, dtype)
    module, split = numpy_module(net), shares.SplitSteps(numpy_module(net), 2)
    values = shares.values_per_sample(program_of(net)) * m
    n = max(5, min(200, int(2e7 / max(values, 1))))  # about the same time a row
    ratios, whole = [], []
    for _ in range(rounds):
        t_whole = median_ms(lambda: module.sgd_step(params, X, Y, 1e-3, cost=False), n)
        t_split = median_ms(lambda: split.sgd_step(params, X, Y, 1e-3, cost=False), n)
        ratios.append(t_whole / t_split)
        whole.append(t_whole)
    split.close()
    return (f"  {spec[:55]:<55} m={m:<5d} {values:>12,}  {statistics.median(whole):8.3f} ms  "
            f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
            + (" *" if shares.threads_for(net, program_of(net), m, None) > 1 else ""))


def main():
    from symbackprop.allocator import keep_freed_memory
    from symbackprop.backends import shares

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    args = ap.parse_args()
    keep_freed_memory()
    print(f"Split in 2 shares against the unsplit step ({args.dtype}; shares.MIN_VALUES = {shares.MIN_VALUES:,}, "
          f"{shares.cores()} cores here)")
    print(f"  {'network':<55} {'batch':<7} {'values':>12}  {'unsplit':>11}  split's speed (rounds); * split by "
          "training")
    for spec, m in CASES:
        print(row(spec, m, args.rounds, np.dtype(args.dtype)), flush=True)


if __name__ == "__main__":
    main()
