"""Checking one layer's backward function as courses write it (``check --layer KIND``): ``FUNC(dout, cache)``, the
cache made by the module's matching ``*_forward``, rows layout (x (N, D), w (D, M), 1-D biases; images (N, C, H, W),
conv weights (F, C, HH, WW)), against the derived pullback of that layer (``backends.pullback``) on small random
draws."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends import loader, pullback
from ..costs import UPSTREAM
from ..errors import SymbackpropError, UserCodeError
from ..grammar import parse_spec
from . import sequence_layers
from .report import ParamResult, Report, compare
from .sequence_layers import SEQUENCE_KINDS
from .user_code import attempt, load_user_module, numbers, user_error, user_function


@dataclass(frozen=True)
class Kind:
    """A layer kind: its network (from the sizes D, M), the course's forward arguments and what backward returns."""

    name: str
    spec: str  # formatted with the drawn sizes (D, M; images C, H, W, F, K, S, P and OUT, the flattened output)
    returns: tuple[str, ...]  # what FUNC returns, in order
    forward: bool = True  # made by a *_forward (False: FUNC(x, y) -> (loss, dx), as a course's softmax_loss)
    cost: str | None = None  # the network's cost (None: the upstream gradient dout)
    how: str = ""  # how the course's layer is that network, where it is not plain
    upstreams: int = 1  # the upstream gradients FUNC takes before the cache (an LSTM step's: dnext_h, dnext_c)


_TABLE = "x is an embedding table read at ids n·T + t (its output x, its gradient dx)"
KINDS = {k.name: k for k in (
    Kind("affine", "{D}-{M}:identity", ("dx", "dw", "db")),
    Kind("relu", "{D}-{D}:relu", ("dx",)),
    Kind("sigmoid", "{D}-{D}:logistic", ("dx",)),
    Kind("tanh", "{D}-{D}:tanh", ("dx",)),
    Kind("gelu", "{D}-{D}:gelu", ("dx",), how="the exact GELU, x·Φ(x) (erf), as F.gelu"),
    Kind("gelu_tanh", "{D}-{D}:gelu_tanh", ("dx",),
         how="GPT-2's tanh approximation, as F.gelu(approximate='tanh') and llm.c's gelu_backward"),
    Kind("batchnorm", "{D}-{D}:batchnorm:identity", ("dx", "dgamma", "dbeta")),
    Kind("layernorm", "{D}-{D}:layernorm:identity", ("dx", "dgamma", "dbeta")),
    Kind("dropout", "{D}-{D}:identity:dropout=0.5-{D}:identity", ("dx",)),
    Kind("softmax_loss", "{D}-{D}:softmax", ("loss", "dx"), forward=False, cost="cross_entropy"),
    Kind("svm_loss", "{D}-{D}:identity", ("loss", "dx"), forward=False, cost="multiclass_hinge"),
    Kind("conv", "{C}x{H}x{W}-conv{F}k{K}s{S}p{P}-flatten-{OUT}:identity", ("dx", "dw", "db")),
    Kind("max_pool", "{C}x{H}x{W}-maxpool{K}s{S}-flatten-{OUT}:identity", ("dx",)),
    # x (N, T) ids, W (V, D): the embedding of a sequence, a dense identity after it: its upstream is dout's
    Kind("word_embedding", "{T}-embed{V}d{D}-{D}:identity", ("dW",)),
    # a course's rnn_layers.py (sequence_layers.py says how x (N, T, D) and its weights become ours)
    Kind("rnn_step", "{DM}-{M}:tanh", ("dx", "dprev_h", "dWx", "dWh", "db"),
         how="one position is a dense tanh layer over [x, prev_h] with weights [Wx; Wh]"),
    Kind("lstm_step", "{DMM}-lstmcell{M}-{MM}:identity", ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"),
         how="one step is an LSTM cell over [x; prev_h; prev_c] giving [next_h; next_c], its weights' gates i, f, o, "
             "g reordered as PyTorch's i, f, g, o", upstreams=2),
    Kind("attention", "{T}-embed{NT}d{DDD}-attn3-{DDD}:identity", ("dq", "dk", "dv"),
         how="q, k and v (N, T, D), one head, causal; x is an embedding table of [q; k; v] read at ids n·T + t, an "
             "attention layer of 3 heads whose projections pick q, k and v into its first head, and dout that "
             "head's rows"),
    Kind("rnn", "{T}-embed{NT}d{D}-rnn{M}-{M}:identity", ("dx", "dh0", "dWx", "dWh", "db"),
         how=f"{_TABLE}; h0 = 0 (as symbackprop's RNN), dh0 = Whᵀ·δ at the first position"),
    Kind("lstm", "{T}-embed{NT}d{D}-lstm{M}-{M}:identity", ("dx", "dh0", "dWx", "dWh", "db"),
         how=f"{_TABLE}; the gates i, f, o, g reordered as PyTorch's i, f, g, o; h0 = c0 = 0, dh0 = Whᵀ·δ at the "
             "first position"),
    Kind("temporal_affine", "{T}-embed{NT}d{D}-{M}:identity", ("dx", "dw", "db"), how=_TABLE),
    Kind("temporal_softmax_loss", "{T}-embed{NT}d{M}-{M}:softmax", ("loss", "dx"), forward=False,
         cost="cross_entropy", how=f"{_TABLE}; a masked position's target all 0 (no cost); the sum over N"),
)}
IMAGES = ("conv", "max_pool")


SIZE_NAMES = {"N": "samples", "D": "input features", "M": "output features (hidden units)", "C": "channels",
              "H": "image height and width", "F": "filters", "K": "kernel (pool window) side", "S": "stride",
              "P": "padding", "T": "positions", "V": "vocabulary"}
SIZE_LIMIT = 64  # each given size at most this: a check needs no more


def parse_sizes(text: str | None) -> dict:
    """``--sizes N=3,D=5``: whole numbers by name (N, D, M; images C, H, F, K, S, P); one line naming a bad one."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        name, eq, value = (t.strip() for t in part.partition("="))
        if name not in SIZE_NAMES or not eq:
            raise SymbackpropError(f"--sizes: {part.strip()!r} is not NAME=NUMBER with NAME one of "
                                   f"{', '.join(SIZE_NAMES)}, e.g. N=3,D=5")
        if not value.isdigit() or not (0 if name == "P" else 1) <= int(value) <= SIZE_LIMIT:
            raise SymbackpropError(f"--sizes: {name} ({SIZE_NAMES[name]}) must be a whole number from "
                                   f"{0 if name == 'P' else 1} to {SIZE_LIMIT}, not {value!r}")
        out[name] = int(value)
    return out


def _sizes(kind: Kind, rng, given: dict | None = None) -> dict:
    """Small random sizes unless ``given``: N 2-4 samples; D, M 3-6 features; images 1-3 channels of 4-6 pixels a
    side, 2-3 filters, kernels 1-3 (a pool's 2), stride 1-2 and padding 0-1 (each window fitting whole, as a
    course's naive layers assert)."""
    given = given or {}
    n = {"N": int(rng.integers(2, 5)), "D": int(rng.integers(3, 7)), "M": int(rng.integers(3, 7))}
    if kind.name == "word_embedding":  # a few positions over a small vocabulary: tokens repeat
        n.update(T=int(rng.integers(2, 5)), V=int(rng.integers(3, 6)))
    if kind.name in SEQUENCE_KINDS:  # a few positions; M the hidden units of a recurrent layer
        n.update(T=int(rng.integers(2, 5)))
    n.update({k: v for k, v in given.items() if k in n})
    n.update(NT=n["N"] * n.get("T", 1), DM=n["D"] + n["M"], DMM=n["D"] + 2 * n["M"], MM=2 * n["M"],
             DDD=3 * n["D"])
    if kind.name not in IMAGES:
        return n
    for _ in range(1000):
        C, H, F, K, S = (int(v) for v in (rng.integers(1, 4), rng.integers(4, 7), rng.integers(2, 4),
                                          rng.integers(1, 4), rng.integers(1, 3)))
        P = int(rng.integers(0, 2)) if kind.name == "conv" else 0
        K = K if kind.name == "conv" else 2
        drawn = {"C": C, "H": H, "F": F, "K": K, "S": S, "P": P, **given}
        C, H, F, K, S, P = (drawn[k] for k in ("C", "H", "F", "K", "S", "P"))
        if K <= H + 2 * P and (H + 2 * P - K) % S == 0:
            side = (H + 2 * P - K) // S + 1
            return {**n, "C": C, "H": H, "W": H, "F": F, "K": K, "S": S, "P": P,
                    "OUT": (F if kind.name == "conv" else C) * side * side}
    raise SymbackpropError(f"--sizes: no {kind.name} layer fits them: the window K must fit in H + 2P and its "
                           "steps S must end on the edge ((H + 2P - K) divisible by S)")


def _module(kind: Kind, sizes: dict):
    network = parse_spec(kind.spec.format(**sizes))
    network = network.with_cost(kind.cost) if kind.cost else network.with_cost(UPSTREAM)
    from ..derive.sweep import sweep

    keep = sequence_layers.keep(kind.name) if kind.name in SEQUENCE_KINDS else ()
    return loader.from_source(pullback.source(sweep(network, input_grad=True), keep), "symbackprop_layer")


def _draw(kind: Kind, rng, sizes: dict) -> tuple[tuple, dict]:
    """(the course's forward arguments (or FUNC's, for a loss), our parameters in columns without X and Y)."""
    N, D, M = sizes["N"], sizes["D"], sizes["M"]
    if kind.name in SEQUENCE_KINDS:
        return sequence_layers.draw(kind.name, rng, sizes)
    if kind.name in IMAGES:  # the layer, flattened, then a dense identity: its upstream gradient is dout's
        x = rng.normal(size=(N, sizes["C"], sizes["H"], sizes["W"]))
        out = sizes["OUT"]
        last = {f"W{2 if kind.name == 'conv' else 1}": np.eye(out), f"B{2 if kind.name == 'conv' else 1}":
                np.zeros((out, 1))}
        if kind.name == "max_pool":
            return (x, {"pool_height": sizes["K"], "pool_width": sizes["K"], "stride": sizes["S"]}), last
        w, b = rng.normal(size=(sizes["F"], sizes["C"], sizes["K"], sizes["K"])), rng.normal(size=sizes["F"])
        return (x, w, b, {"stride": sizes["S"], "pad": sizes["P"]}), {"W1": w, "B1": b, **last}
    if kind.name == "word_embedding":
        W = rng.normal(size=(sizes["V"], D))
        return (rng.integers(0, sizes["V"], size=(N, sizes["T"])), W), \
            {"E1": W.T.copy(), "W2": np.eye(D), "B2": np.zeros((D, 1))}
    x = rng.normal(size=(N, D))
    eye = {"W1": np.eye(D), "B1": np.zeros((D, 1))}  # the layer alone: a dense identity before it
    if kind.name == "affine":
        w, b = rng.normal(size=(D, M)), rng.normal(size=M)
        return (x, w, b), {"W1": w.T.copy(), "B1": b[:, None].copy()}
    if kind.name in ("batchnorm", "layernorm"):
        gamma, beta = rng.normal(size=D), rng.normal(size=D)
        param = {"mode": "train", "eps": 1e-5, "momentum": 0.9} if kind.name == "batchnorm" else {"eps": 1e-5}
        return (x, gamma, beta, param), {**eye, "gamma1": gamma[:, None].copy(), "beta1": beta[:, None].copy()}
    if kind.name == "dropout":
        return (x, {"p": 0.5, "mode": "train", "seed": int(rng.integers(1 << 30))}), \
            {**eye, "W2": np.eye(D), "B2": np.zeros((D, 1))}
    if kind.name in ("softmax_loss", "svm_loss"):
        return (x, rng.integers(0, D, size=N)), eye
    return (x,), eye


def _mask(cache, shape):
    """Dropout's mask as the forward kept it: the array in the cache of x's shape (the meaning of p set aside)."""
    parts = cache if isinstance(cache, (tuple, list)) else (cache,)
    found = [np.asarray(c, dtype=float) for c in parts if getattr(c, "shape", None) == shape]
    if not found:
        raise UserCodeError(f"the dropout cache holds no array of x's shape {shape} (the mask): keep the mask in it")
    return found[-1]


def _reference(kind, module, args, params, dout, cache):
    """The derived values in the course's shapes, by name (dx (N, D), dw (D, M), db (M,), ...)."""
    x = args[0]
    if kind.name in SEQUENCE_KINDS:
        return sequence_layers.reference(kind.name, module, args, params, dout)
    if kind.name == "dropout":
        params = {**params, "M1": _mask(cache, x.shape).T * 0.5}  # A = Z ⊙ M / (1 − 0.5): the user's mask
    if kind.name in ("softmax_loss", "svm_loss"):
        Y = np.eye(x.shape[1])[:, args[1]]
        C, g = module.pullback(params, x.T, Y)
        return {"loss": np.array([[C / len(x)]]), "dx": g["X"].T / len(x)}
    if kind.name == "word_embedding":  # ids (N, T) as (T, N), dout (N, T, D) as the upstream (D, T, N)
        _, g = module.pullback(params, x.T.astype(float), dout.transpose(2, 1, 0))
        return {"dW": g["E1"].T}
    if kind.name in IMAGES:
        _, g = module.pullback(params, x, dout.reshape(len(x), -1).T)
        out = {"dx": g["X"].transpose(3, 0, 1, 2)}
        if kind.name == "conv":
            out.update(dw=g["W1"], db=g["B1"].reshape(-1))
        return out
    _, g = module.pullback(params, x.T, dout.T)
    out = {"dx": g["X"].T}
    if kind.name == "affine":
        out.update(dw=g["W1"].T, db=g["B1"][:, 0])
    if kind.name in ("batchnorm", "layernorm"):
        out.update(dgamma=g["gamma1"][:, 0], dbeta=g["beta1"][:, 0])
    return out


def _matrix(a: np.ndarray) -> np.ndarray:
    """An array as rows and columns for the comparison: a vector as one column, more axes after the first flat."""
    return a[:, None] if a.ndim == 1 else a.reshape(a.shape[0], -1)


def _buffered(dout, x, vocab: int) -> np.ndarray:
    """``dW[x] += dout``: an embedding's gradient with each repeated token counted once (NumPy buffers a fancy-index
    ``+=``: the last write wins)."""
    out = np.zeros((vocab, dout.shape[-1]))
    out[x] += dout
    return out


def _named(name: str, got: list, want: list, n: list, extra=()) -> str | None:
    """The classic mistake that reproduces every returned value of ``name``, or None; ``extra``: this kind's own
    mistakes, ``(what, {returned name: the value it gives for each draw})``."""
    for what, by_name in extra:
        values = by_name.get(name)
        if values is not None and len(values) == len(got) and all(
                np.shape(g) == np.shape(v) and np.allclose(g, v, rtol=1e-6, atol=1e-9) for g, v in zip(got, values)):
            return f"your {name} {what}"
    candidates = [
        ("is transposed", lambda w, _: w.T),
        ("has the wrong sign", lambda w, _: -w),
        ("is N times the correct value (a sum over the batch where the mean belongs): divide by N", lambda w, k: w * k),
        ("is 1/N of the correct value: it was divided by the batch size N, once too often", lambda w, k: w / k),
        ("is half the correct value: a factor 2 is missing", lambda w, _: w / 2),
        ("is twice the correct value", lambda w, _: 2 * w),
        ("has one row per sample: sum it over the batch (axis 0)", None),
    ]
    for what, make in candidates:
        if make is None:
            if all(g.ndim == 2 and w.ndim == 1 and g.shape[1:] == w.shape and np.allclose(g.sum(axis=0), w)
                   for g, w in zip(got, want)):
                return f"your {name} {what}"
            continue
        if all(np.shape(g) == np.shape(make(w, k)) and np.allclose(g, make(w, k), rtol=1e-6, atol=1e-9)
               for g, w, k in zip(got, want, n)):
            return f"your {name} {what}"
    return None


class _Letters(dict):
    """The sizes' own letters where a spec is shown in general (``{D}-{M}:identity`` as ``D-M:identity``)."""

    def __missing__(self, key):
        return key


def _call(path, timeout, what, fn, *args):
    """The user's ``fn(*args)``; its error is theirs, at their line."""
    out, err = attempt(path, timeout, what, fn, *args)
    if err is not None:
        raise UserCodeError(user_error(err, path))
    return out


def check_layer(kind_name: str, target: str, trials: int = 5, seed: int = 0, timeout: float = 60.0,
                forward: str | None = None, rtol: float = 1e-6, atol: float = 1e-9, sizes: str | None = None
                ) -> Report:
    """Check ``FILE.py:FUNC``, a backward function of one layer of kind ``kind_name``, on ``trials`` random draws
    (N 2-4 samples, 3-6 features each, unless ``sizes`` gives them: ``"N=3,D=5"``)."""
    given = parse_sizes(sizes)
    if kind_name not in KINDS:
        raise SymbackpropError(f"--layer must be one of {', '.join(KINDS)}, not {kind_name!r}")
    kind = KINDS[kind_name]
    module, path, name = load_user_module(target, timeout)
    fn = user_function(module, path, name)
    make = None
    if kind.forward:
        names = [forward] if forward else [name.replace("backward", "forward"), f"{kind.name}_forward"]
        make = next((getattr(module, n) for n in names if callable(getattr(module, n, None))), None)
        if make is None:
            raise UserCodeError(f"{path} has no {' or '.join(dict.fromkeys(names))} to make {name}'s cache: name it "
                                "with --forward NAME")
    rng = np.random.default_rng(seed)
    results = {r: ParamResult(r, (0, 0)) for r in kind.returns}
    seen: dict[str, tuple[list, list, list]] = {r: ([], [], []) for r in kind.returns}
    buffered: list = []  # a word embedding's gradient with repeated tokens counted once, draw by draw
    named: dict = {}  # a recurrent or temporal layer's own mistakes: {what: {returned name: [value a draw]}}
    for trial in range(1, trials + 1):
        drawn = _sizes(kind, rng, given)
        N = drawn["N"]
        args, params = _draw(kind, rng, drawn)
        dout, cache = None, None
        if make is not None:
            made = _call(path, timeout, f"{make.__name__}", make, *args)
            made = made if isinstance(made, tuple) else (made, None)
            if len(made) < kind.upstreams + 1:
                raise UserCodeError(f"{make.__name__} returned {len(made)} value(s); {kind.name}'s forward returns "
                                    f"{kind.upstreams} output(s) and the cache")
            out, cache = made[0], made[-1]
            douts = tuple(rng.normal(size=np.shape(o)) for o in made[:kind.upstreams])
            dout = douts[0] if kind.upstreams == 1 else douts
            answer = _call(path, timeout, name, fn, *douts, cache)
        else:
            answer = _call(path, timeout, name, fn, *args)
        answer = answer if isinstance(answer, tuple) else (answer,)
        if len(answer) != len(kind.returns):
            raise UserCodeError(f"{name} returned {len(answer)} value(s); a {kind.name} backward returns "
                                f"{', '.join(kind.returns)}")
        module = _module(kind, drawn)
        want = _reference(kind, module, args, params, dout, cache)
        if kind.name == "word_embedding":
            buffered.append(_buffered(dout, args[0], len(args[1])))
        if kind.name in SEQUENCE_KINDS:
            made_h = np.asarray(out, dtype=float) if make is not None else None
            step = _module(KINDS["rnn_step"], drawn) if kind.name == "rnn" else None
            for what, values in sequence_layers.mistakes(kind.name, module, step, args, params, dout, made_h).items():
                for r, v in values.items():
                    named.setdefault(what, {}).setdefault(r, []).append(v)
        case = f"draw {trial}, N={N}"
        for r, got in zip(kind.returns, answer):
            res, value = results[r], numbers(got, np.shape(want[r]))
            if res.problem:
                continue
            if isinstance(value, str):
                res.problem = value
                continue
            if r == "loss":
                value = value.reshape(1, 1) if value.size == 1 else value
            seen[r][0].append(value)
            seen[r][1].append(want[r])
            seen[r][2].append(N)
            if value.shape != np.shape(want[r]):
                res.shape, res.problem = value.shape, f"has shape {value.shape}, expected {np.shape(want[r])} ({case})"
                continue
            res.expected_shape = res.shape = value.shape
            compare(res, _matrix(value), _matrix(want[r]), rtol, atol, case,
                    lambda ij, shape=value.shape: [int(i) for i in np.unravel_index(
                        ij[0] * (_matrix(np.empty(shape)).shape[1]) + ij[1], shape)])
    extra = [("counts a repeated token once: dW[x] += dout buffers (the last write wins); add with "
              "np.add.at(dW, x, dout)", {"dW": buffered})] if buffered else []
    extra += list(named.items())
    for r, res in results.items():
        if not res.ok:
            res.diagnosis = _named(r, *seen[r], extra) or "no known mistake reproduces your numbers"
    title = f"check --layer {kind.name} against {target}: {trials} draws of " + (
        ", ".join(f"{k}={v}" for k, v in given.items()) + " and the rest random" if given else
        ("N 2-4 samples of T 2-4 tokens of V 3-5, D 3-6 features" if kind.name == "word_embedding"
         else "N 2-4 samples of T 2-4 positions, M 3-6 classes" if kind.name == "temporal_softmax_loss"
         else "N 2-4 samples, D 3-6 features in, M 3-6 out (hidden)" if kind.name in ("rnn_step", "lstm_step")
         else "N 2-4 samples of T 2-4 positions, D 3-6 features" if kind.name == "attention"
         else "N 2-4 samples of T 2-4 positions, D 3-6 features in, M 3-6 out (hidden)"
         if kind.name in SEQUENCE_KINDS else "N 2-4 samples, 3-6 features"))
    called = "x, y, mask" if kind.name == "temporal_softmax_loss" else "x, y"
    notes = [f"the cache is made by your {make.__name__}" if make else f"{name}({called}) called as written",
             "reference: the derived pullback of " + kind.spec.format_map(_Letters(NT="(N·T)", DM="(D+M)", DMM="(D+2M)",
                                                                               MM="(2M)", DDD="(3D)"))
             + ("" if kind.cost else " with dnext_h and dnext_c as the upstream gradient" if kind.upstreams == 2
                else " with dout as the upstream gradient") + (f": {kind.how}" if kind.how else "")]
    return Report(title, list(results.values()), [], notes)
