"""What this machine has: work that would not fit in memory is refused before anything is allocated."""

from __future__ import annotations

import os

from .errors import SymbackpropError


def physical_memory() -> int | None:
    """Bytes of memory on this machine, or ``None`` where it cannot be told."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def require_memory(nbytes: float, what: str) -> None:
    """One line with the numbers when ``what`` would need more than about 80% of this machine's memory."""
    total = physical_memory()
    if total is not None and nbytes > 0.8 * total:
        raise SymbackpropError(f"{what} would need about {nbytes / 2**30:,.1f} GiB of memory; this machine has "
                               f"{total / 2**30:,.1f} GiB")


def require_parameters(network, copies: int, what: str) -> None:
    """Refuse ``what`` when ``copies`` float64 copies of the network's parameters would not fit."""
    require_memory(8.0 * copies * network.n_params, f"{what} {network.spec} ({network.n_params:,} parameters)")
