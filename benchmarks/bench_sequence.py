"""One training step of a small GPT: symbackprop's NumPy and JAX backends against PyTorch eager autograd and
``jax.jit(jax.value_and_grad)`` of the same model, in one run (issue 19).

The model: vocabulary 65, T 64, width 64, 4 heads, 2 GPT-2 blocks (pre-norm attention, a 256-wide ``gelu_tanh``
MLP, each added to its input), a final layernorm and a softmax over the vocabulary; batch 16, float32.  A step is
the forward pass, the backward pass and the SGD update: symbackprop's generated ``sgd_step`` as training runs it
(NumPy, in place; a batch this large split over the cores, ``backends.numpy_steps``) and
its derived ``loss_and_grads`` jitted with the update (JAX); PyTorch's ``loss.backward()`` and an in-place update;
JAX's ``value_and_grad`` jitted with the update.  Rows run in turn (--rounds times), each in a fresh process (a
row's thread pools slow the next row's in one process; the two JAX rows share one, their steps interleaved) and
the median of --repeat steps after a warm-up; a row's
time is the median of its rounds, and a ratio is printed with its rounds' own (the machine's speed drifts between
rounds; a round's rows run within seconds of each other).  glibc keeps freed memory for the next step in every row
(``symbackprop.allocator``, as symbackprop's trainers set it).  Also: derivation + code generation time, and the peak
resident memory a step adds over the model's, in a fresh process per row (--memory).
With ``--tensorgrad-python PY``, tensorgrad's compiled step of the same model and weights too (its first loss
checked against the model's), in its own process under a Python where tensorgrad works (``tensorgrad_gpt.py``).
Run: python benchmarks/bench_sequence.py [--repeat 11] [--rounds 3] [--memory] [--tensorgrad-python PY]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

V, T, DIM, HEADS, BATCH = 65, 64, 64, 4, 16
BLOCK = f"res(layernorm+attn{HEADS})-res(layernorm+{4 * DIM}:gelu_tanh+{DIM}:identity)"
SPEC = f"{T}-embed{V}d{DIM}-pos{T}d{DIM}-{BLOCK}-{BLOCK}-layernorm-{V}:softmax"
LR = 1e-3


def problem(dtype=np.float32):
    from symbackprop import parse_spec
    from symbackprop.train import init_params

    net = parse_spec(SPEC)
    rng = np.random.default_rng(0)
    params = {k: (v * 0.5).astype(dtype) for k, v in init_params(net, rng).items()}
    X = rng.integers(0, V, (T, BATCH)).astype(dtype)
    Y = np.eye(V, dtype=dtype)[rng.integers(0, V, (T, BATCH))].transpose(2, 0, 1)
    return net, params, X, Y


def _layers(net):
    """(kind, number, layer) in order, a residual block's layers with their own numbers."""
    from symbackprop.blocks import Residual, span

    out = []
    for number, layer in zip(net.numbers, net.layers):
        if isinstance(layer, Residual):
            n, inner = number, []
            for sub in layer.layers:
                inner.append((n, sub))
                n += span(sub)
            out.append(("residual", number, inner))
        else:
            out.append(("layer", number, layer))
    return out


def torch_step(net, params, X, Y):
    """PyTorch eager: the same model (``F.embedding``, ``F.layer_norm``, ``F.scaled_dot_product_attention``)."""
    import torch
    import torch.nn.functional as F

    from symbackprop import Dense, Embedding
    from symbackprop.blocks import LayerNorm
    from symbackprop.sequences import PositionalEmbedding, SelfAttention

    torch.set_num_threads(2)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ids = torch.tensor(X.T, dtype=torch.long)
    targets = torch.tensor(Y.argmax(axis=0).T.reshape(-1))

    def apply(A, n, layer):
        if isinstance(layer, Embedding):
            return F.embedding(ids, p[f"E{n}"].T)
        if isinstance(layer, PositionalEmbedding):
            return A + p[f"P{n}"].T
        if isinstance(layer, LayerNorm):
            return F.layer_norm(A, (A.shape[-1],), p[f"gamma{n}"][:, 0], p[f"beta{n}"][:, 0])
        if isinstance(layer, SelfAttention):
            m, t, d = A.shape
            q, k, v = ((A @ p[f"W{c}{n}"].T + p[f"B{c}{n}"][:, 0]).reshape(m, t, HEADS, d // HEADS).transpose(1, 2)
                       for c in "qkv")
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(m, t, d)
            return o @ p[f"Wo{n}"].T + p[f"Bo{n}"][:, 0]
        assert isinstance(layer, Dense)
        z = A @ p[f"W{n}"].T + p[f"B{n}"][:, 0]
        return z if layer.activation.name in ("identity", "softmax") else F.gelu(z, approximate="tanh")

    def step():
        A = None
        for kind, n, layer in _layers(net):
            if kind == "residual":
                out = A
                for m_, sub in layer:
                    out = apply(out, m_, sub)
                A = A + out
            else:
                A = apply(A, n, layer)
        loss = F.cross_entropy(A.reshape(-1, V), targets)
        loss.backward()
        with torch.no_grad():
            for v in p.values():
                v -= LR * v.grad
                v.grad = None
        return loss

    return step


def jax_baseline_step(net, params, X, Y):
    """``jax.jit(jax.value_and_grad)`` of the same model written in jax.numpy, with the update."""
    import jax
    import jax.numpy as jnp

    from symbackprop import Embedding
    from symbackprop.blocks import LayerNorm
    from symbackprop.sequences import PositionalEmbedding, SelfAttention

    ids, targets = jnp.asarray(X.T.astype(np.int32)), jnp.asarray(Y.argmax(axis=0).T)
    mask = jnp.tril(jnp.ones((T, T), bool))

    def ln(A, g, b):
        mu = A.mean(-1, keepdims=True)
        return (A - mu) / jnp.sqrt(((A - mu) ** 2).mean(-1, keepdims=True) + 1e-5) * g[:, 0] + b[:, 0]

    def apply(p, A, n, layer):
        if isinstance(layer, Embedding):
            return p[f"E{n}"].T[ids]
        if isinstance(layer, PositionalEmbedding):
            return A + p[f"P{n}"].T
        if isinstance(layer, LayerNorm):
            return ln(A, p[f"gamma{n}"], p[f"beta{n}"])
        if isinstance(layer, SelfAttention):
            m, t, d = A.shape
            q, k, v = ((A @ p[f"W{c}{n}"].T + p[f"B{c}{n}"][:, 0]).reshape(m, t, HEADS, d // HEADS)
                       .transpose(0, 2, 1, 3) for c in "qkv")
            s = jnp.where(mask, q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(d // HEADS), -jnp.inf)
            o = (jax.nn.softmax(s, axis=-1) @ v).transpose(0, 2, 1, 3).reshape(m, t, d)
            return o @ p[f"Wo{n}"].T + p[f"Bo{n}"][:, 0]
        z = A @ p[f"W{n}"].T + p[f"B{n}"][:, 0]
        return z if layer.activation.name in ("identity", "softmax") else jax.nn.gelu(z, approximate=True)

    def loss(p):
        A = None
        for kind, n, layer in _layers(net):
            if kind == "residual":
                out = A
                for m_, sub in layer:
                    out = apply(p, out, m_, sub)
                A = A + out
            else:
                A = apply(p, A, n, layer)
        logp = jax.nn.log_softmax(A, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, targets[..., None], axis=-1))

    @jax.jit
    def update(p):
        value, g = jax.value_and_grad(loss)(p)
        return {k: p[k] - LR * g[k] for k in p}, value

    state = {"p": {k: jnp.asarray(v) for k, v in params.items()}}

    def step():
        state["p"], value = update(state["p"])
        return value.block_until_ready()

    return step


def numpy_ours(net, params, X, Y):
    from symbackprop.backends import numpy_steps

    stepper, p = numpy_steps(net, BATCH), {k: v.copy() for k, v in params.items()}  # as training runs it
    return lambda: stepper.sgd_step(p, X, Y, LR, cost=False)


def jax_ours(net, params, X, Y):
    import jax
    import jax.numpy as jnp

    from symbackprop.backends import framework_module

    module = framework_module(net, "jax")
    state = {"p": {k: jnp.asarray(v) for k, v in params.items()}}
    step_fn = jax.jit(module.sgd_step)
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def step():
        state["p"], c = step_fn(state["p"], Xj, Yj, LR)
        return c.block_until_ready()

    return step


ROWS = {"symbackprop numpy": numpy_ours, "symbackprop jax (jit)": jax_ours, "PyTorch eager autograd": torch_step,
        "jax.jit(value_and_grad)": jax_baseline_step}


def time_row(names, repeat):
    """The median seconds of ``repeat`` steps of each of ``names``, in a fresh process of their own: the rows'
    thread pools (OpenBLAS's, PyTorch's, XLA's) wait spinning for a while after their work, and measured in one
    process a row after another ran up to 1.7x slower (PyTorch eager after the NumPy backend: 19 ms against 11 ms
    alone).  Rows of one runtime (the two jitted JAX steps) share a process, their steps interleaved, so that the
    machine's drift hits both alike."""
    code = ("import sys; sys.path.insert(0, 'benchmarks'); import bench_sequence as b; "
            f"print(*b.time_here({tuple(names)!r}, {repeat}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [float(v) for v in out.stdout.split()[-len(names):]]


def time_here(names, repeat):
    from symbackprop.allocator import keep_freed_memory

    keep_freed_memory()  # as symbackprop's trainers set it (every row alike): freed arrays reused step after step
    net, params, X, Y = problem()
    steps = [ROWS[name](net, params, X, Y) for name in names]
    for step in steps:
        step()
    times = [[] for _ in steps]
    for _ in range(repeat):
        for step, each in zip(steps, times):
            t = time.perf_counter()
            step()
            each.append(time.perf_counter() - t)
    return [statistics.median(each) for each in times]


GROUPS = (("symbackprop numpy",), ("symbackprop jax (jit)", "jax.jit(value_and_grad)"), ("PyTorch eager autograd",))


def memory_row(name):
    """Peak resident memory (MB) the first steps add in a fresh process, over the model and its data set up (JAX's
    compilation included)."""
    code = ("import sys; sys.path.insert(0, 'benchmarks'); import bench_sequence as b; "
            f"net, params, X, Y = b.problem(); step = b.ROWS[{name!r}](net, params, X, Y); "
            "before = b.rss('VmRSS'); open('/proc/self/clear_refs', 'w').write('5'); [step() for _ in range(3)]; "
            "print(b.rss('VmHWM') - before)")  # clear_refs 5: the peak (VmHWM) starts again from now
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def tensorgrad_row(python: str, repeat: int) -> tuple[float, float]:
    """(seconds a step, the first step's loss) of tensorgrad's compiled step of the same model and weights, run by
    ``python`` (a Python where tensorgrad works: it needs PyTorch's named tensors) in its own process."""
    import tempfile
    from pathlib import Path

    net, params, X, Y = problem()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "problem.npz"
        np.savez(path, X=X, Y=Y, **params)
        script = Path(__file__).with_name("tensorgrad_gpt.py")
        out = subprocess.run([python, str(script), str(path), str(repeat)], capture_output=True, text=True,
                             check=True, cwd=script.parent)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["ms"] / 1e3, result["loss"]


def rss(field: str) -> int:
    """A resident-memory figure of this process in kB (Linux): ``VmRSS`` now, ``VmHWM`` its peak."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--tensorgrad-python", metavar="PY",
                    help="a Python with tensorgrad (and a PyTorch with named tensors, e.g. 2.9): adds its row")
    args = ap.parse_args()
    from symbackprop import derive
    from symbackprop.backends import framework_module, numpy_module

    t = time.perf_counter()
    d = derive(SPEC)
    numpy_module(d.network)
    framework_module(d.network, "jax")
    print(f"{SPEC}\n  derivation + NumPy and JAX code generation: {time.perf_counter() - t:.1f} s (target <= 20 s)")
    rounds = {name: [] for name in ROWS}
    tg = "tensorgrad compiled step"
    if args.tensorgrad_python:
        rounds[tg] = []
    for _ in range(args.rounds):
        for group in GROUPS:
            for name, seconds in zip(group, time_row(group, args.repeat)):
                rounds[name].append(seconds)
        if args.tensorgrad_python:
            seconds, loss = tensorgrad_row(args.tensorgrad_python, args.repeat)
            net, params, X, Y = problem()
            from symbackprop.backends import numpy_module

            ours = float(numpy_module(net).cost(params, X, Y))
            assert abs(loss - ours) <= 1e-5 * abs(ours), f"tensorgrad's loss {loss} is not the model's {ours}"
            rounds[tg].append(seconds)
    t = {name: statistics.median(ts) for name, ts in rounds.items()}
    for name, value in t.items():
        spread = ", ".join(f"{v * 1e3:.1f}" for v in rounds[name])
        print(f"  {name:<26} {value * 1e3:8.1f} ms a step (rounds {spread})")
    for label, ours, theirs, target in (("NumPy backend vs PyTorch eager:", "symbackprop numpy",
                                         "PyTorch eager autograd", 0.8),
                                        ("JAX backend vs jitted JAX:     ", "symbackprop jax (jit)",
                                         "jax.jit(value_and_grad)", 0.9)):
        each = ", ".join(f"{b / a:.2f}" for a, b in zip(rounds[ours], rounds[theirs]))
        print(f"  {label} {t[theirs] / t[ours]:.2f}x the speed (rounds {each}; target >= {target}x)")
    if args.tensorgrad_python:
        print(f"  tensorgrad's step vs the NumPy backend's: {t[tg] / t['symbackprop numpy']:.2f}x, vs the JAX "
              f"backend's: {t[tg] / t['symbackprop jax (jit)']:.2f}x (target: both above 1x, symbackprop ahead)")
    if args.memory:
        mem = {name: memory_row(name) for name in ROWS}
        shown = json.dumps({k: round(v, 1) for k, v in mem.items()})
        print(f"  peak resident memory (MB) the first 3 steps add: {shown}")
        ratio = mem["symbackprop numpy"] / mem["PyTorch eager autograd"]
        print(f"  NumPy backend's against PyTorch's: {ratio:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
