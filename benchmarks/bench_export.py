"""Per-sample SGD steps per second: the C99 export (cc -O2) against the in-library numba loop, same net and data.

Run: python benchmarks/bench_export.py [--steps 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from symbackprop import derive
from symbackprop.backends import per_sample_module
from symbackprop.demo import font_colour_data
from symbackprop.export import export
from symbackprop.train import init_params

DRIVER = """#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>
#include "net.h"
static double X[%(m)d][3];
static double Y[%(m)d][1];
int main(void) {
    net_params p = {0};
    FILE *f = fopen("data.txt", "r");
    double *w = &p.W1[0][0];
    for (unsigned i = 0; i < sizeof p / sizeof(double); ++i) if (fscanf(f, "%%lf", &w[i]) != 1) return 2;
    for (int k = 0; k < %(m)d; ++k)
        if (fscanf(f, "%%lf %%lf %%lf %%lf", &X[k][0], &X[k][1], &X[k][2], &Y[k][0]) != 4) return 2;
    fclose(f);
    unsigned s = 12345u;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long step = 0; step < %(steps)ld; ++step) {
        s = s * 1664525u + 1013904223u;
        int k = (int)(s %% %(m)du);
        net_sgd_step(&p, X[k], Y[k], 0.05);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%%.9f %%.17g\\n", (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec), p.B2[0][0]);
    return 0;
}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        print("no C compiler: nothing to measure")
        return
    net = derive("3-3:relu-1:logistic").network
    X, y = font_colour_data(1345, seed=0)
    Xt, Y = (X / 255).T.copy(), y.reshape(1, -1).astype(float)
    params = init_params(net, np.random.default_rng(1), X=Xt)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        export(net, "c", folder, "net")
        (folder / "driver.c").write_text(DRIVER % {"m": Xt.shape[1], "steps": args.steps})
        flat = np.concatenate([params[k].ravel() for k in net.shapes()])
        rows = np.column_stack([Xt.T, Y.T])
        (folder / "data.txt").write_text(" ".join(repr(float(v)) for v in flat) + "\n" +
                                         "\n".join(" ".join(repr(float(v)) for v in r) for r in rows))
        subprocess.run([cc, "-std=c99", "-O2", "-o", str(folder / "driver"), str(folder / "driver.c"),
                        str(folder / "net.c"), "-lm"], check=True)
        c_times = [float(subprocess.run([str(folder / "driver")], cwd=folder, capture_output=True, text=True,
                                        check=True).stdout.split()[0]) for _ in range(args.repeat)]
    module = per_sample_module(net)
    order = np.random.default_rng(1).integers(0, Xt.shape[1], size=args.steps)

    def ours():
        arrays = [params[k].copy() for k in net.shapes()]
        module.sgd(*arrays, Xt, Y, order, 0.05, args.steps, np.zeros(1))

    ours()
    py_times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        ours()
        py_times.append(time.perf_counter() - t)
    c_t, py_t = statistics.median(c_times), statistics.median(py_times)
    print(f"Per-sample SGD, 3-3:relu-1:logistic, {args.steps:,} steps (medians of {args.repeat})")
    print(f"  C99 export (cc -O2)          {c_t:8.4f} s  {args.steps / c_t / 1e6:7.2f} M steps/s")
    print(f"  symbackprop numba loop       {py_t:8.4f} s  {args.steps / py_t / 1e6:7.2f} M steps/s")
    print(f"  C export / numba loop speed: {py_t / c_t:.2f}x")


if __name__ == "__main__":
    main()
