"""Export what was derived: a standalone NumPy module, C99 with a test harness, or an interactive web page."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .backends import c_code, c_harness, export_source, js_code, numpy_module, program_of, require
from .draws import random_problem
from .errors import SymbackpropError
from .fileio import atomic_write, atomic_write_all
from .model import Model

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHADOWED = {"numpy", "np", "math", "jax", "jnp", "torch"}


_ROWS = {
    "numpy": "    return predict(PARAMS, scale(rows))",
    "jax": "    return np.asarray(predict(PARAMS, scale(rows)))",
    "torch": "    with torch.no_grad():\n        return predict({k: torch.as_tensor(v) for k, v in PARAMS.items()}, "
             "torch.as_tensor(scale(rows))).numpy()",
}

_TORCH_TRAINED = '''

def trained_model(dtype=None, device=None):
    """A ``Model`` holding the trained weights, in ``dtype`` (PyTorch's default unless given); its inputs are scaled
    as in training (see ``scale``)."""
    model = Model(dtype=dtype, device=device)
    with torch.no_grad():
        for name, value in PARAMS.items():
            getattr(model, name).copy_(torch.as_tensor(value).reshape(SHAPES[name]))
    return model
'''


def _model_section(model: Model, to: str = "numpy") -> str:
    params = ",\n".join(f'    "{k}": np.array({np.asarray(v).tolist()!r})' for k, v in model.params.items())
    sc = model.scaling
    if sc.kind == "scale":
        scale = f"    return rows / {sc.factor!r}"
    elif sc.kind == "standardize":
        scale = f"    return (rows - np.array({sc.mean!r})) / np.array({sc.std!r})"
    else:
        scale = "    return rows"
    trained = _TORCH_TRAINED if to == "torch" else ""
    return f'''

# -- the trained model -----------------------------------------------------------------------------
PARAMS = {{
{params}
}}
CLASSES = {model.classes!r}
FEATURES = {model.feature_names!r}


def scale(rows):
    """The input scaling used in training, on raw rows (n_samples, n_features)."""
    rows = np.asarray(rows, dtype=float)
{scale}
{trained}

def predict_rows(rows):
    """The trained network's output layer for raw rows (n_samples, n_features): (n_samples, n_outputs)."""
{_ROWS[to]}
'''


def export(target, to: str, out_dir=".", name: str | None = None, dtype: str = "float64",
           optimizer=None) -> list[Path]:
    """Write the export of ``target`` (a spec string or a :class:`Model`) for ``to`` in numpy, c, js, jax or torch.

    Returns the paths written.  With a model, its weights and input scaling are embedded.  With an ``optimizer``
    (a name or an :class:`~symbackprop.optimizers.Optimizer`), the NumPy, JAX and PyTorch exports carry its whole
    step, ``optimizer_step(params, state, X, Y, lr)`` with ``init_state(params)``, and the C export
    ``NAME_optimizer_step(&params, &state, x, y, lr)`` (one sample a step) with its ``NAME_state``.
    """
    from .grammar import parse_spec

    model = target if isinstance(target, Model) else None
    network = (model.network if model else parse_spec(target)).eval()  # exports predict: no dropout
    if optimizer is not None and to not in ("numpy", "jax", "torch", "c"):
        raise SymbackpropError(f"--optimizer is for the numpy, jax, torch and c exports, not --to {to}")
    if optimizer is not None:
        from .optimizers import get_optimizer

        optimizer = get_optimizer(optimizer)
        if to == "c" and not optimizer.schedule.plain:
            raise SymbackpropError("the C export's optimizer step runs at a constant rate: no schedule, warmup or "
                                   "clipping (the caller's lr is used as given)")
    if to == "js":  # the page's loop code knows matrices only (so far)
        network.require_matrices(f"export --to {to}")
    name = name or "network"
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SymbackpropError(f"--name must be a C/Python identifier, not {name!r}")
    if name in _SHADOWED:
        raise SymbackpropError(f"--name {name!r} would hide the module of that name from the export's imports")
    if dtype not in ("float32", "float64"):
        raise SymbackpropError(f"--dtype must be float32 or float64, not {dtype!r}")
    folder = Path(out_dir)
    try:  # the output folder is made when missing
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SymbackpropError(f"--out {folder}: cannot make the folder ({err.strerror or err})") from None
    program = program_of(network)
    if to in ("numpy", "jax", "torch"):
        if to != "numpy":
            require(to)  # the export is checked against the framework it imports
        source = export_source(network, to, optimizer) + (_model_section(model, to) if model else "")
        path = folder / f"{name}.py"
        atomic_write(path, source)
        return [path]
    if to == "c":
        files = {f"{name}.h": c_code.header(program, name, dtype, model, optimizer),
                 f"{name}.c": c_code.source(program, name, dtype, model, optimizer),
                 f"test_{name}.c": _harness(network, program, name, dtype, model)}
        atomic_write_all({folder / fname: text for fname, text in files.items()})
        return [folder / f for f in files]
    if to == "js":
        if model is None:
            raise SymbackpropError("js export needs a trained MODEL.json (the page runs the trained network)")
        path = folder / f"{name}.html"
        atomic_write(path, js_code.page(program, model, name))
        return [path]
    raise SymbackpropError(f"--to must be numpy, c, js, jax or torch, not {to!r}")


def _harness(network, program, name, dtype, model) -> str:
    params, X, Y = random_problem(network, np.random.default_rng(0), 4)
    if model is not None:
        params = model.params
    mod = numpy_module(network)
    m = X.shape[-1]
    per_sample = [mod.gradients(params, X[:, [k]], Y[..., [k]]) for k in range(m)]
    costs = np.array([c for c, _ in per_sample])
    grads = [g for _, g in per_sample]
    if network.positions:  # ids (T, m), targets (n, T, m), outputs (n, m·T): rows of T ids, T·n values
        out = mod.predict(params, X).reshape(-1, m, network.positions)
        return c_harness.harness(program, name, dtype, params, X.T, Y.transpose(2, 1, 0).reshape(m, -1),
                              out.transpose(1, 2, 0).reshape(m, -1), costs, grads)
    return c_harness.harness(program, name, dtype, params, X.T, Y.T, mod.predict(params, X).T, costs, grads)
