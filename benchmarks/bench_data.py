"""Reading a large CSV: peak memory and time of ``symbackprop train`` on a generated 3-million-row file.

Target: peak memory within 300 MB + 5x the file's size, and within 120 s, on this machine.

Run: python benchmarks/bench_data.py [--rows 3000000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The command's own peak: VmHWM counts this process since it started (getrusage would also count the
# benchmark's process, forked to start it).
SCRIPT = """import re, sys
from symbackprop.cli import main
code = main(sys.argv[1:])
print("peak", int(re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024)
sys.exit(code)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.csv"
        rng = np.random.default_rng(0)
        with open(path, "w") as fh:
            fh.write("RED,GREEN,BLUE,DARK\n")
            for start in range(0, args.rows, 500_000):
                rgb = rng.integers(0, 256, size=(min(500_000, args.rows - start), 3))
                dark = (rgb @ np.array([0.299, 0.587, 0.114]) > 150).astype(int)
                np.savetxt(fh, np.column_stack([rgb, dark]), fmt="%d", delimiter=",")
        size = path.stat().st_size
        t = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", SCRIPT, "train", str(path), "--net", "3-3:relu-1:logistic",
                              "--scale", "255", "--iterations", "100000", "--seed", "1"],
                             check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        print(run.stdout.split("\npeak ")[0])
        peak = int(run.stdout.split("peak ")[1])
    limit = 300 * 2**20 + 5 * size
    print(f"{args.rows:,} rows, {size / 2**20:.1f} MiB: {seconds:.1f} s, peak memory {peak / 2**20:.0f} MiB "
          f"(limit 300 MiB + 5x the file = {limit / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
