"""Training with the derived gradients: compiled per-sample SGD and vectorised mini-batch SGD."""

from __future__ import annotations

import math
import sys

import numpy as np

from . import naming
from .allocator import keep_freed_memory
from .backends import numpy_module, numpy_steps, optimizer_module, program_of, require, shares
from .backends.updates import flat_state, restore_state
from .checkpoint import capture, resumed
from .data import Scaling, encode_targets
from .draws import masks_of
from .errors import DataError, DivergedError, SymbackpropError
from .frameworks import EarlyStop, saved_state, train_jax, train_torch
from .grammar import parse_spec
from .layers.batchnorm import running_updates
from .loop_parts import check_finite, mean_cost, progress_bar
from .model import Model
from .optimizers import get_optimizer, state_key
from .optimizers import schedule as make_schedule
from .per_sample import train_per_sample
from .registry import BACKENDS
from .resources import require_parameters
from .sequences import check_ids
from .spec import Network


def _draw(param, rng: np.random.Generator, uniform: bool) -> np.ndarray:
    """One parameter's initial value, by its ``init``: He, Glorot or standard normal, zeros or ones."""
    if uniform:
        return rng.random(param.shape)
    if param.std is not None:
        return rng.normal(0.0, param.std, param.shape)
    return np.ones(param.shape) if param.init == "ones" else np.zeros(param.shape)


CHECK_BLOCK = 64  # samples a dead-unit check pushes through at a time


def init_params(network: Network, rng: np.random.Generator, init: str = "auto", X=None) -> dict:
    """Initial parameters, each as its layer declares (He for the weights before a ReLU-family activation,
    Glorot otherwise, zero biases).

    ``init="uniform"`` is the textbook's ``np.random.rand`` for every weight and bias.  With the
    training inputs ``X`` (n_inputs, m), a unit whose activation learns nothing below 0 (ReLU) and that
    would be below 0 on every sample is redrawn, so a small network never starts with a dead layer.
    """
    if init not in ("auto", "uniform"):
        raise SymbackpropError(f"unknown init '{init}' (choose auto or uniform)")
    require_parameters(network, 4, "training")
    params = {p.name: _draw(p, rng, init == "uniform") for p in network.params}
    for p in network.eval().params:  # what only prediction has (batchnorm's running statistics): 0 and 1
        if p.name not in params:  # (drawing only these: the generator's sequence stays as it was)
            params[p.name] = _draw(p, rng, False)
    if init == "uniform" or X is None:
        return params
    forward = numpy_module(network.eval()).forward
    sample = X[:, :512]  # enough samples to tell a dead unit
    for number, layer in zip(network.numbers, network.layers):
        if not getattr(getattr(layer, "activation", None), "dead_left", False):
            continue
        W = next(p for p in network.params if p.key == naming.weight(number))
        for _ in range(20):
            # (units, m), or (channels, OH, OW, m); 64 samples at a time, products small enough that OpenBLAS keeps
            # them on one thread (its woken threads would spin on, slowing JAX or PyTorch training next: measured)
            Z = np.concatenate([forward(params, sample[:, k:k + CHECK_BLOCK])[str(naming.pre(number))]
                                for k in range(0, sample.shape[1], CHECK_BLOCK)], axis=-1)
            dead = np.all(Z <= 0, axis=tuple(range(1, Z.ndim)))
            if not dead.any():
                break
            params[W.name][dead] = _draw(W, rng, False)[dead]
    return params


def _target_scaling(network, Y, enabled: bool) -> tuple:
    """(mean, std) per output row for an identity output when enabled (and it has a bias to fold the mean into);
    (0, 1) otherwise."""
    if not enabled or network.output.activation.name != "identity" or not network.output.bias:
        return 0.0, 1.0
    mean = Y.mean(axis=1, keepdims=True)
    std = Y.std(axis=1, keepdims=True)
    return mean, np.where(std > 0, std, 1.0)


def _unscale_output(network, params, history, shift, spread) -> None:
    """Fold the target standardisation into the identity output layer: A = std ⊙ (W·A_prev + B) + mean."""
    if isinstance(spread, float):
        return
    last = network.depth
    W, B = str(naming.weight(last)), str(naming.bias(last))
    params[W] = params[W] * spread
    params[B] = params[B] * spread + shift
    if network.cost.name == "squared_error" and network.outputs == 1:  # the losses in the target's units too
        factor = float(spread[0, 0]) ** 2
        for part in ("train", "test"):
            history[part] = [None if v is None else v * factor for v in history.get(part, [])]


SPAN_WARNING = 1e3  # features beyond this, unscaled, get one warning


def _finite_inputs(X: np.ndarray, names: list[str], when: str) -> None:
    """One line naming the first feature with a NaN or infinite value (and its sample), if any."""
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        raise DataError(f"feature '{names[col]}' is not finite{when} in sample {row + 1} ({X[row, col]})")


def _check_training_options(per_sample, backend, early_stopping, validation, schedule) -> None:
    """One line for an option the chosen way of training cannot honour (per-sample steps take no schedule)."""
    if early_stopping is not None and (isinstance(early_stopping, bool) or not isinstance(
            early_stopping, (int, np.integer)) or early_stopping < 1):
        raise SymbackpropError(f"--early-stopping must be a whole number of epochs of at least 1, not "
                               f"{early_stopping!r}")
    if early_stopping is not None and (per_sample or validation is None):
        raise SymbackpropError("--early-stopping needs mini-batch training and a validation split: give "
                               "--batch-size or --epochs, and --val-size (validation= in Python)")
    if schedule and any(v is not None for v in schedule.values()) and (per_sample or backend == "numba"):
        raise SymbackpropError("learning-rate schedules, warmup and --clip-norm are for mini-batch training on the "
                               "numpy, jax or torch backend: give --batch-size or --epochs")


def train(spec, X, y, cost: str | None = None, *, per_sample: bool | None = None, iterations: int | None = None,
          batch_size: int | None = None, epochs: int | None = None, lr: float | None = None, seed: int | None = 0,
          init: str = "auto", dtype: str | None = None, scale: float | None = None, standardize: bool = False,
          validation=None, feature_names=None, target_name: str = "y", classes=None,
          progress: bool | None = None, rows=None, backend: str | None = None,
          target_scaling: bool = True, l2: float | None = None, optimizer=None,
          early_stopping: int | None = None, schedule: dict | None = None, resume: Model | None = None) -> Model:
    """Train ``spec`` on all rows of ``X`` (n_samples, n_features), ``y`` (n_samples,) or (n_samples, n_outputs).

    Per-sample SGD (``per_sample=True, iterations=N``: N steps, each on one random row) runs a numba
    loop generated from the derivation; mini-batch SGD (``batch_size=B, epochs=E``) runs the
    generated NumPy code, shuffling each epoch.  ``validation=(X_test, y_test)`` adds a test curve
    to ``history``.  Integer labels are one-hot encoded for a softmax output.  Same seed, same result.
    ``rows`` (and a third item ``rows`` in ``validation``) train on those rows of X and y only, without
    copying them whole: for large data sets.

    ``backend``: numba (per-sample; the default there), numpy (mini-batch default), jax or torch (mini-batch
    only: JAX jit-compiles whole epochs and splits each batch over every local device; PyTorch runs on CUDA
    when present).  The same seed gives the same split, initialisation and sample order on every backend.

    With an identity output (regression), the targets are standardised for training (``target_scaling=False``
    opts out) and the output layer is rescaled afterwards, so that the model, its predictions and its exports are
    in the target's own units; so is the loss history, for squared error on one output.  ``l2`` is weight decay
    (λ·Σ‖W‖² added to the batch cost, derived like the rest).  ``optimizer``: sgd (the default), momentum,
    nesterov, rmsprop, adam or adamw, or an :class:`~symbackprop.optimizers.Optimizer` with its hyperparameters
    (mini-batches); ``lr`` defaults to the optimizer's (0.05 for SGD, 1e-3 for Adam).  ``early_stopping=N``
    stops mini-batch training when the loss on ``validation`` has not improved for N epochs and keeps the weights
    of its best epoch (``history["best_epoch"]``, ``history["stopped"]``).  ``schedule``: the learning rate's
    ``{"kind": "constant"|"step"|"cosine", "step_size": EPOCHS, "gamma": G, "warmup": STEPS, "clip_norm": X}``.

    ``resume``: a model trained in mini-batches (its ``checkpoint``) to continue for ``epochs`` more, with its own
    optimizer, schedule, rate, batch size and dtype, from its generator's state: the same numbers as one run of all
    the epochs (on the same rows; :func:`~symbackprop.workflows.train_dataset` splits them by the model's seed).
    """
    network = parse_spec(spec, cost)
    network = network if l2 is None else network.with_l2(l2)
    optimizer = None if optimizer is None else get_optimizer(optimizer)
    if resume is not None:
        optimizer, lr, batch_size, dtype = resumed(
            resume, network, optimizer, lr, batch_size, dtype, schedule, early_stopping,
            per_sample if per_sample is not None else batch_size is None and epochs is None,
            {"scale": scale, "standardize": standardize, "target_scaling": target_scaling})
        schedule = None  # the optimizer carries the first run's
    optimizer = optimizer or get_optimizer(None)
    lr = optimizer.default_lr if lr is None else lr
    dtype = dtype or "float64"
    if dtype not in ("float32", "float64"):
        raise SymbackpropError(f"dtype must be float32 or float64, not {dtype!r}")
    if lr is None or not np.isfinite(lr) or lr <= 0:
        raise SymbackpropError(f"the learning rate must be a positive number, not {lr}")
    if per_sample is None:
        per_sample = batch_size is None and epochs is None
    if per_sample and (batch_size is not None or epochs is not None):
        raise SymbackpropError("per-sample SGD runs for a number of iterations; batch size and epochs are for "
                               "mini-batch training")
    if not per_sample and iterations is not None:
        raise SymbackpropError("iterations are for per-sample SGD; mini-batch training runs for a number of epochs")
    backend = BACKENDS.get(backend or ("numba" if per_sample else "numpy")).name
    if per_sample and backend != "numba":
        raise SymbackpropError(f"per-sample SGD runs on the numba backend; the {backend} backend trains "
                               "mini-batches (give a batch size or epochs)")
    _check_training_options(per_sample, backend, early_stopping, validation, schedule)
    if backend in ("jax", "torch"):
        require(backend)
    network.require_samples("training on rows of features")
    if network.has_images and (per_sample or backend == "numba"):
        fix = "give --batch-size" if per_sample else "choose --backend numpy, jax or torch"
        raise SymbackpropError(f"{network.spec} has {network.tensor_layers}: it trains mini-batches on the numpy, "
                               f"jax or torch backend ({fix}); the per-sample numba loop knows matrices only")
    if (network.masks or network.batch_coupled) and (per_sample or backend == "numba"):
        what = "batchnorm" if network.batch_coupled else "dropout"
        fix = "give a batch size or epochs" if per_sample else "choose --backend numpy, jax or torch"
        raise SymbackpropError(f"{network.spec} has {what}, which trains mini-batches on the numpy, jax or torch "
                               f"backend ({fix})")
    if network.batch_coupled and batch_size is not None and (batch_size == 1 or len(
            X if rows is None else rows) % batch_size == 1):
        raise SymbackpropError(f"{network.spec} has batchnorm, which needs at least 2 samples in every batch: "
                               f"batch size {batch_size} leaves a batch of 1")
    if not per_sample and backend == "numba":  # measured 2.5x slower than NumPy on mini-batches: not offered
        raise SymbackpropError("the numba backend runs per-sample SGD (give --iterations, not --batch-size or "
                               "--epochs); mini-batches train on the numpy (the default), jax or torch backend")
    for option, value in (("iterations", iterations), ("epochs", epochs), ("batch size", batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            raise SymbackpropError(f"{option} must be a whole number, not {value!r}")
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != network.inputs:
        raise SymbackpropError(f"X must be (n_samples, {network.inputs}) for {network.spec}, not {X.shape}")
    if rows is not None:
        y = np.asarray(y)[rows]
    if len(X) == 0 or (rows is not None and len(rows) == 0):
        raise SymbackpropError("no training rows")
    names = list(feature_names) if feature_names is not None else [f"column {k}" for k in range(X.shape[1])]
    _finite_inputs(X, names, "")
    if network.vocab is not None:
        check_ids(network.vocab, X if rows is None else X[rows], names)
        if scale is not None or standardize:
            raise SymbackpropError(f"{network.spec} reads token ids: they are not scaled (leave out --scale and "
                                   "--standardize)")
    reach = max(float(np.max(X)), -float(np.min(X))) if X.size else 0.0
    if scale is None and not standardize and reach > SPAN_WARNING and network.vocab is None:
        print(f"symbackprop: warning: features reach {reach:.3g} with no scaling; training may stall or diverge "
              "(try --standardize or --scale)", file=sys.stderr)
    scaling = Scaling.fit(X, scale, standardize, rows)
    Xt = scaling.columns(X, rows)  # (n_inputs, m): samples as columns, like the textbook
    _finite_inputs(Xt.T, names, f" after scaling ({scaling.kind})")
    Y, labels = encode_targets(network, y, classes)
    shift, spread = _target_scaling(network, Y, target_scaling)
    Y = (Y - shift) / spread
    val = None
    if validation is not None:
        Xv, yv, *vrows = validation
        vrows = vrows[0] if vrows else None
        yv = np.asarray(yv)[vrows] if vrows is not None else yv
        if len(yv):
            val = (scaling.columns(np.asarray(Xv, dtype=float), vrows),
                   (encode_targets(network, yv, labels)[0] - shift) / spread)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise SymbackpropError(f"the seed must be a whole number of at least 0, not {seed!r}")
    rng = np.random.default_rng(seed) if resume is None else resume.checkpoint.generator()
    params = init_params(network, rng, init, Xt) if resume is None else {
        k: v.copy() for k, v in resume.checkpoint.params.items()}
    if per_sample:
        evaluate = numpy_module(network.eval())  # the test curve, as the model predicts
        steps = 100_000 if iterations is None else iterations
        if steps < 1:
            raise SymbackpropError(f"iterations must be at least 1, not {steps}")
        history = train_per_sample(network, evaluate, params, Xt, Y, steps, lr, rng, val, progress, optimizer)
    else:
        params, history, moments, optimizer = _train_mini_batches(
            network, params, Xt, Y, epochs, batch_size, lr, rng, val, progress, dtype, backend, optimizer,
            early_stopping, schedule, resume.checkpoint.state if resume is not None else None)
    params = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    saved = None
    if not per_sample and not early_stopping:  # where training stopped: what --resume continues from
        saved = capture((100 if epochs is None else epochs) + (resume.checkpoint.epochs if resume else 0), rng,
                        params, moments, optimizer, lr=lr, batch_size=batch_size or 32,
                        dtype=dtype, seed=seed, scale=scale, standardize=standardize, target_scaling=target_scaling,
                        test_size=None, val_size=None, tested_on_file=False)
        if resume is not None:
            saved.options.update({k: resume.checkpoint.options[k] for k in ("seed", "test_size", "val_size",
                                                                            "tested_on_file")})
    _unscale_output(network, params, history, shift, spread)
    if resume is not None:  # the first run's curves (in the target's units already) before this run's
        history.update({part: resume.history.get(part, []) + history[part] for part in ("train", "test")})
    model = Model(network, params, scaling,
                  list(feature_names) if feature_names is not None else None, target_name, labels, history)
    model.checkpoint = saved
    return model


def _train_mini_batches(network, params, Xt, Y, epochs, batch_size, lr, rng, val, progress, dtype, backend,
                        optimizer, early_stopping, schedule, initial=None) -> tuple:
    """Mini-batch training on the chosen backend, with the optimizer, its schedule and early stopping, from the
    optimizer state ``initial`` (a resumed run's): (params, history, the optimizer's state, the optimizer with
    its schedule)."""
    n_epochs = 100 if epochs is None else epochs
    size = 32 if batch_size is None else batch_size
    if n_epochs < 1 or size < 1:
        raise SymbackpropError("epochs and batch size must be at least 1")
    stop = EarlyStop(early_stopping) if early_stopping else None
    if schedule and any(v is not None for v in schedule.values()):
        per_epoch = -(-Xt.shape[1] // size)
        optimizer = optimizer.with_schedule(make_schedule(total=n_epochs * per_epoch, steps_per_epoch=per_epoch,
                                                          **schedule))
    with progress_bar(n_epochs, progress, "epoch") as bar:
        if backend in ("jax", "torch"):
            run = train_jax if backend == "jax" else train_torch
            params, history, moments = run(network, params, Xt, Y, n_epochs, size, lr, rng, val, bar, dtype,
                                           optimizer, stop, initial)
        else:
            params = {k: v.astype(dtype) for k, v in params.items()}
            stepper = numpy_steps(network, size) if optimizer.plain else _OptimizerSteps(network, optimizer,
                                                                                          params, initial, size)
            if network.has_images:  # steps of MBs of arrays: reused, not faulted in again each step
                keep_freed_memory()
            evaluate = numpy_module(network.eval())  # the test curve, as the model predicts: without dropout
            try:
                history = _mini_batch(evaluate, stepper, params, Xt.astype(dtype), Y.astype(dtype), n_epochs,
                                      size, lr, rng, val, bar, masks_of(network, dtype) if network.masks else None,
                                      running_updates(network), stop)
            finally:
                getattr(stepper, "close", lambda: None)()
            moments = {"t": 0} if optimizer.plain else saved_state(network, optimizer, stepper.state)
    if stop is not None:
        params = stop.restore(params, history)
    history["optimizer"] = optimizer.summary()
    return params, history, moments, optimizer


class _OptimizerSteps:
    """The generated ``optimizer_step`` (forward, derived gradients, update) and the optimizer's state, over flat
    buffers: the learned entries of ``params`` become views of one array (the dict changes in place).  A large
    batch of ``size`` is split over the cores (:mod:`.backends.shares`): the shares' gradient sums, then the
    generated ``optimizer_update``."""

    def __init__(self, network, optimizer, params, initial=None, size: int = 1):
        self.module = optimizer_module(network, optimizer, flat=True, kernel=True)
        self.forward = self.module.forward
        self.state = flat_state(network, optimizer, params, lambda n, like: np.zeros(n, like.dtype))
        if initial is not None:
            restore_state(self.state, initial)
        threads = shares.threads_for(network, program_of(network), size)
        self.split = shares.SplitSteps(numpy_module(network), threads, self._update) if threads > 1 else None

    def _update(self, params, sums, count, lr):
        for name, total in sums.items():
            self.state[state_key("g", name)][...] = total  # views of all_g, which the update reads
        self.module.optimizer_update(params, self.state, count, lr)

    def sgd_step(self, params, X, Y, lr, cost=True):
        if self.split is not None:
            return self.split.sgd_step(params, X, Y, lr, cost)
        return self.module.optimizer_step(params, self.state, X, Y, lr, cost)

    def close(self) -> None:
        if self.split is not None:
            self.split.close()


LOSS_EVERY = 4  # the NumPy backend's training loss: the cost of every 4th batch (the step computes it, before its
# update); the other steps skip it (a tenth of a small network's step)
GATHER_VALUES = 1 << 22  # an epoch's batches are gathered this many values of X at a time (32 MiB in float64)


def _batches(Xt, Y, order, size):
    """(Xb, Yb) for each batch of ``order``: gathered in runs of whole batches (views of one copy each), not one
    fancy index a batch."""
    m = len(order)
    run = max(1, GATHER_VALUES // (size * max(1, Xt.shape[0]))) * size
    for begin in range(0, m, run):
        part = order[begin:begin + run]
        Xr, Yr = np.take(Xt, part, axis=1), np.take(Y, part, axis=1)
        for start in range(0, len(part), size):
            yield Xr[:, start:start + size], Yr[:, start:start + size]


def _mini_batch(batch, stepper, params, Xt, Y, epochs, size, lr, rng, val, bar, masks, update, stop=None) -> dict:
    m = Xt.shape[1]
    history = {"unit": "epoch", "train": [], "test": []}
    step = stepper.sgd_step
    # overflow on the way to divergence is detected below and reported as such, not as a warning
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(epochs):
            costs, counted = [], 0
            for k, (Xb, Yb) in enumerate(_batches(Xt, Y, rng.permutation(m), size)):
                inputs = params
                if masks is not None:  # dropout's masks for this batch
                    inputs = {**params, **masks(rng, Xb.shape[1])}
                if update is not None:  # batchnorm's running statistics, from this batch's (before the step)
                    params.update(update(params, stepper.forward(inputs, Xb), Xb.shape[1]))
                if k % LOSS_EVERY:
                    step(inputs, Xb, Yb, lr, False)
                else:
                    costs.append(step(inputs, Xb, Yb, lr) * Xb.shape[1])
                    counted += Xb.shape[1]
            total_cost = math.fsum(costs) / counted
            if not math.isfinite(total_cost):  # once an epoch: the loss of some step was not finite
                raise DivergedError(f"training diverged in epoch {epoch + 1}: the loss is not finite; "
                                    f"try a lower learning rate (now {lr:g})")
            check_finite(params, f"epoch {epoch + 1}", lr)
            history["train"].append(float(total_cost))
            if val is not None:
                history["test"].append(mean_cost(batch, params, *val))
            bar.update(1)
            if stop is not None and stop(epoch + 1, history["test"][-1], lambda: {k: v.copy() for k, v in
                                                                                   params.items()}):
                break
    return history
