"""Where mini-batch training stopped, kept in the model file so that ``train --resume`` continues it exactly.

A checkpoint holds the generator's state (the next epoch's shuffle and dropout masks), the optimizer's state (the
step count and each parameter's ``m_W1``...), the parameters as training left them (before an identity output
takes back the target's scaling) and the options that made the run, so that a resumed run of N epochs gives the
numbers of an uninterrupted run of all the epochs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from .errors import ModelFileError, SymbackpropError
from .optimizers import REGISTRY, Optimizer, Schedule, get_optimizer, state_key

SCHEDULE_FIELDS = tuple(f.name for f in dataclasses.fields(Schedule))
# the options a resumed run takes from the checkpoint (the command line may not give them again)
OPTIONS = ("optimizer", "values", "schedule", "lr", "batch_size", "dtype", "seed", "scale", "standardize",
           "target_scaling", "test_size", "val_size", "tested_on_file")


@dataclass
class Checkpoint:
    epochs: int  # epochs trained so far, over every run
    rng: dict  # NumPy's bit_generator.state
    params: dict  # as training left them
    state: dict  # the optimizer's: "t" and each parameter's variables
    options: dict = field(default_factory=dict)

    def optimizer(self) -> Optimizer:
        """The optimizer with the run's hyperparameters and schedule."""
        base = get_optimizer(self.options["optimizer"])
        return dataclasses.replace(base, values=tuple(self.options["values"].items()),
                                   schedule=Schedule(**self.options["schedule"]))

    def generator(self) -> np.random.Generator:
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = self.rng
        return rng

    def to_json(self) -> dict:
        return {"epochs": self.epochs, "rng": self.rng,
                "params": {k: np.asarray(v, dtype=float).tolist() for k, v in self.params.items()},
                "state": {k: (v if k == "t" else np.asarray(v, dtype=float).tolist()) for k, v in self.state.items()},
                "options": self.options}


def capture(epochs: int, rng: np.random.Generator, params: dict, state: dict, optimizer: Optimizer,
            **options) -> Checkpoint:
    """The checkpoint after a run (params and the optimizer's state as NumPy float64 copies)."""
    return Checkpoint(epochs, rng.bit_generator.state, {k: np.array(v, dtype=float) for k, v in params.items()},
                      {k: (int(v) if k == "t" else np.array(v, dtype=float)) for k, v in state.items()},
                      {"optimizer": optimizer.name, "values": dict(optimizer.values),
                       "schedule": dataclasses.asdict(optimizer.schedule), **options})


def _bad(where: str, what: str) -> ModelFileError:
    return ModelFileError(f"{where}: its training state (for --resume) {what}")


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _array(raw, shape, where: str, name: str) -> np.ndarray:
    try:
        arr = np.array(raw)
    except (TypeError, ValueError):
        arr = np.array(None)
    if arr.dtype.kind not in "iuf" or arr.shape != tuple(shape) or not np.all(np.isfinite(arr)):
        raise _bad(where, f"has {name} that is not a finite {'×'.join(map(str, shape))} matrix")
    return arr.astype(float)


def _whole(x, low: int = 0) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= low


def _schedule(d: dict) -> bool:
    """Whether a schedule read from a file is what training writes (checked before any of it is used)."""
    return (d["kind"] in ("constant", "step", "cosine") and _whole(d["total"]) and _whole(d["step_size"])
            and _whole(d["warmup"]) and _number(d["gamma"]) and (d["clip_norm"] is None or _number(d["clip_norm"]))
            and (d["kind"] != "step" or d["step_size"] >= 1) and (d["kind"] != "cosine" or d["total"] >= 1))


CHECKS = {"lr": lambda x: _number(x) and x > 0, "batch_size": lambda x: _whole(x, 1),
          "dtype": lambda x: x in ("float32", "float64"), "seed": lambda x: x is None or _whole(x),
          "scale": lambda x: x is None or (_number(x) and x != 0), "standardize": lambda x: isinstance(x, bool),
          "target_scaling": lambda x: isinstance(x, bool), "tested_on_file": lambda x: isinstance(x, bool),
          "test_size": lambda x: x is None or (_number(x) and 0 <= x < 1),
          "val_size": lambda x: x is None or (_number(x) and 0 < x < 1)}


def from_json(doc, network, where: str) -> Checkpoint:
    """A checkpoint read from a model file, every part checked against the network; one line at fault."""
    if not isinstance(doc, dict) or set(doc) != {"epochs", "rng", "params", "state", "options"}:
        raise _bad(where, "is not epochs, rng, params, state and options")
    epochs, options = doc["epochs"], doc["options"]
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise _bad(where, "has no whole number of epochs")
    if not isinstance(options, dict) or set(options) != set(OPTIONS):
        raise _bad(where, "does not list the run's options")
    name, values, schedule = options["optimizer"], options["values"], options["schedule"]
    if not isinstance(name, str) or name not in REGISTRY.view():
        raise _bad(where, f"names an unknown optimizer {name!r}")
    known = dict(get_optimizer(name).values)
    if not isinstance(values, dict) or set(values) != set(known) or not all(map(_number, values.values())):
        raise _bad(where, f"does not give {name}'s hyperparameters ({', '.join(known) or 'none'})")
    if not isinstance(schedule, dict) or set(schedule) != set(SCHEDULE_FIELDS) or not _schedule(schedule):
        raise _bad(where, "has no schedule of known kind and numbers")
    bad = next((k for k, check in CHECKS.items() if not check(options[k])), None)
    if bad is not None:
        raise _bad(where, f"has an option {bad} that is not what training writes")
    rng = doc["rng"]
    if not (isinstance(rng, dict) and rng.get("bit_generator") == "PCG64" and isinstance(rng.get("state"), dict)
            and all(_whole(v) for v in [*rng["state"].values(), rng.get("has_uint32"), rng.get("uinteger")])):
        raise _bad(where, "has no PCG64 generator state")
    try:
        np.random.Generator(np.random.PCG64()).bit_generator.state = rng
    except (TypeError, ValueError, KeyError, OverflowError):
        raise _bad(where, "has a generator state that does not read back") from None
    learned = [q for q in network.params if not q.state]
    params = {q.name: _array((doc["params"] or {}).get(q.name) if isinstance(doc["params"], dict) else None,
                             q.shape, where, q.name) for q in network.eval().params}
    raw_state = doc["state"] if isinstance(doc["state"], dict) else {}
    t = raw_state.get("t")
    if not isinstance(t, int) or isinstance(t, bool) or t < 0:
        raise _bad(where, "has no step count t")
    state = {"t": t}
    for q in learned:
        for kind in get_optimizer(name).state:
            key = state_key(kind, q.name)
            state[key] = _array(raw_state.get(key), q.shape, where, key)
    return Checkpoint(epochs, doc["rng"], params, state, options)


def of(model, where: str = "the model") -> Checkpoint:
    """A model's checkpoint, or one line saying why it has none."""
    saved = getattr(model, "checkpoint", None)
    if saved is None:
        raise SymbackpropError(f"{where} has no training state to resume: it was trained per sample, with early "
                               "stopping or by an older symbackprop")
    return saved


def resumed(model, network, optimizer, lr, batch_size, dtype, schedule, early_stopping, per_sample,
            scaling: dict, where: str = "the model") -> tuple:
    """The run's optimizer, learning rate, batch size and dtype for a resumed run of ``model``, or one line saying
    why it cannot continue: another network, scaling, optimizer, rate or batch size than the checkpoint's, early
    stopping, per-sample steps, or a cosine schedule (it anneals over the first run's epochs)."""
    checkpoint = of(model, where)
    if (model.network.spec, model.network.cost.name, model.network.l2) != (network.spec, network.cost.name,
                                                                           network.l2):
        raise SymbackpropError(f"--resume: {where} is {model.network.spec} with cost {model.network.cost.name}"
                               f"{f' and --l2 {model.network.l2:g}' if model.network.l2 else ''}, not "
                               f"{network.spec} with {network.cost.name}")
    for option, value in scaling.items():
        if checkpoint.options[option] != value:
            raise SymbackpropError(f"--resume: {where} was trained with {option}={checkpoint.options[option]!r}, "
                                   f"not {value!r}: the same scaling continues it")
    opts = checkpoint.options
    theirs = checkpoint.optimizer()
    if per_sample:
        raise SymbackpropError("--resume continues mini-batch training: give --epochs")
    if early_stopping is not None:
        raise SymbackpropError("--resume and --early-stopping: a resumed run continues every epoch of the first")
    if optimizer is not None and (optimizer.name, optimizer.values) != (theirs.name, theirs.values):
        raise SymbackpropError(f"--resume: {where} was trained with {theirs.summary()}, not {optimizer.summary()}")
    for what, given, saved in (("learning rate", lr, opts["lr"]), ("batch size", batch_size, opts["batch_size"]),
                               ("dtype", dtype, opts["dtype"])):
        if given is not None and given != saved:
            raise SymbackpropError(f"--resume: {where} was trained with {what} {saved}, not {given}")
    if schedule and any(v is not None for v in schedule.values()):
        raise SymbackpropError(f"--resume: {where} keeps its own schedule ({theirs.summary()}); give none")
    if theirs.schedule.kind == "cosine":
        raise SymbackpropError(f"--resume: {where} anneals its learning rate over its own {checkpoint.epochs} epochs "
                               "(cosine); train again with --epochs for the whole run instead")
    return theirs, opts["lr"], opts["batch_size"], opts["dtype"]
