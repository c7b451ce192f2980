"""Training pictures with matplotlib (the optional ``plot`` extra): the train/test loss curve."""

from __future__ import annotations

from .errors import SymbackpropError
from .fileio import atomic_path


def require_matplotlib() -> None:
    """Fail early, before training, when ``--plot`` cannot be honoured."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SymbackpropError("--plot needs matplotlib: pip install 'symbackprop[plot]'") from None


def loss_curve(history: dict, path, title: str = "", cost: str = "cost") -> None:
    """Write the train (and test) loss per epoch or per 1,000 steps as a PNG, atomically."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = history.get("unit", "epoch")
    every = int(unit.split()[0]) if unit.endswith("steps") and unit.split()[0].isdigit() else 1
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for part in ("train", "test"):
        values = [float("nan") if v is None else v for v in history.get(part) or []]
        if values:
            ax.plot([every * (k + 1) for k in range(len(values))], values, label=part)
    ax.set_xlabel("steps" if every > 1 else unit)
    ax.set_ylabel(f"mean {cost} (log scale)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
