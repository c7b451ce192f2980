"""Keep freed memory for the next training step: glibc's thresholds raised once, where glibc is the allocator."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest: blocks below it come from the heap, reused step after step
TRIM_THRESHOLD = 256 * 2**20  # free memory at the heap's top kept up to this, not handed back to the system
_DONE: list[bool] = []


def keep_freed_memory() -> bool:
    """Have glibc keep the arrays a training step frees for the next step (once per process); whether it did.

    A step of an image network allocates and frees tens of MB of arrays.  By default glibc hands large freed
    blocks back to the system and every page of the next step's arrays is faulted in again: measured, 3,900
    page faults and 13.3 ms a step of ``benchmarks/bench_conv.py``'s net on the NumPy backend, against none and
    5.7 ms with these thresholds (PyTorch's CPU allocator keeps such memory too).  The process keeps up to
    256 MiB it freed; nothing changes where the C library is not glibc.
    """
    if _DONE:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD):
        _DONE.append(True)
    return bool(_DONE)
