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


def loss_curve(history: dict, path, title: str = "") -> None:
    """Write the train (and test) loss per epoch or per 1,000 steps as a PNG, atomically."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    xs = range(1, len(history.get("train", [])) + 1)
    ax.plot(xs, history.get("train", []), label="train")
    if history.get("test"):
        ax.plot(range(1, len(history["test"]) + 1), history["test"], label="test")
    ax.set_xlabel(history.get("unit", "epoch"))
    ax.set_ylabel("mean cost")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
