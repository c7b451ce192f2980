"""Where Adam's time goes on the JAX backend: SGD, momentum, RMSprop and Adam trained side by side (medians).

The step that trains is one jitted ``lax.scan``, so an optimizer's extra time over SGD's is its rule's work over the
parameters: momentum keeps one state and no square root, RMSprop one state with a square root and a division per
entry, Adam two states with both.  Run in a process of its own (no NumPy BLAS or PyTorch threads beside XLA's): the
mini-batch rows of ``bench_train.py`` run JAX between the two and measure it noisier.

Run: python benchmarks/bench_adam_jax.py [--repeat 15] [--epochs 20]
"""

from __future__ import annotations

import argparse

from bench_train import interleaved, spread

from symbackprop import train

OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
BATCH = 32


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    steps = args.epochs * -(-len(y) // BATCH)
    print(f"digits, 64-64:relu-10:softmax (4,810 parameters), batch {BATCH}, {args.epochs} epochs ({steps} steps), "
          f"JAX backend, medians of {args.repeat} interleaved rounds")
    for dtype in ("float64", "float32"):
        def run(optimizer, dtype=dtype):
            return lambda: train("64-64:relu-10:softmax", X, y, scale=16, batch_size=BATCH, epochs=args.epochs,
                                 seed=0, progress=False, optimizer=optimizer, backend="jax", dtype=dtype)

        fns = [run(name) for name in OPTIMIZERS]
        for fn in fns:
            fn()
        rounds = []
        times = interleaved(fns, args.repeat, rounds)
        print(f"  {dtype}: SGD {times[0]:.4f} s ({times[0] / steps * 1e6:.1f} µs a step)")
        for k, name in enumerate(OPTIMIZERS[1:], 1):
            extra = (times[k] - times[0]) / steps * 1e6
            print(f"    {name:<9} {times[k]:.4f} s: {times[0] / times[k]:.2f}x SGD's speed (rounds "
                  f"{spread(rounds, 0, k)}), {extra:+.1f} µs a step")


if __name__ == "__main__":
    main()
