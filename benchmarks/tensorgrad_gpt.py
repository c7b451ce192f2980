"""tensorgrad's compiled training step of bench_sequence's GPT, timed in its own process (bench_sequence.py runs it).

tensorgrad needs PyTorch's named tensors, which PyTorch 2.13 no longer has, so this runs under a Python where
tensorgrad works (``--tensorgrad-python``).  The model is bench_sequence's, written in tensorgrad's notation —
named edges instead of axes, the heads an edge of the projections — with its fast paths: fused attention
(``F.sdpa``, the causal mask as data), fused layer normalisation and GELU; the loss, every gradient and the SGD
update compile into one program.  The weights are symbackprop's, laid out as tensorgrad's edges.
Run: PYTHON benchmarks/tensorgrad_gpt.py PROBLEM.npz REPEAT  (prints one JSON line)
"""

from __future__ import annotations

import numpy as np
from tensorgrad_step import compiled, report

V, T, DIM, HEADS, BLOCKS, LR = 65, 64, 64, 4, 2, 1e-3


def build():
    """(tensorgrad, the loss, the parameters by symbackprop name, each with its edges, the sizes, the batch)."""
    import tensorgrad as tg
    import tensorgrad.functions as F
    from sympy import symbols
    from tensorgrad import Variable

    b, seq, key, vocab, d, head, hs, d_mlp = symbols("b seq key vocab d head hs d_mlp")
    dims = {seq: T, key: T, vocab: V, d: DIM, head: HEADS, hs: DIM // HEADS, d_mlp: 4 * DIM}
    params = {}

    def p(name, **edges):
        return params.setdefault(name, Variable(name, **edges))

    def norm(x, layer):
        return F.layer_norm(x, dim="d", weight=p(f"gamma{layer}", d=d), bias=p(f"beta{layer}", d=d))

    tokens, targets, mask = Variable("X", b, seq), Variable("Y", b, seq, vocab), Variable("mask", seq=seq, key=key)
    x = F.one_hot(tokens, vocab) @ p("E1", vocab=vocab, d=d) + p("P2", seq=seq, d=d)
    layer = 3
    for _ in range(BLOCKS):  # layernorm (layer), attention (layer + 1), layernorm, the MLP's two dense layers
        a = norm(x, layer)
        q, k, v = (a @ p(f"W{t}{layer + 1}", d=d, head=head, hs=hs) + p(f"B{t}{layer + 1}", head=head, hs=hs)
                   for t in "qkv")
        y = F.sdpa(q, k.rename(seq="key"), v.rename(seq="key"), mask=mask, scale=1 / (DIM // HEADS) ** 0.5)
        x = x + y @ p(f"Wo{layer + 1}", head=head, hs=hs, d=d) + p(f"Bo{layer + 1}", d=d)
        h = F.gelu(norm(x, layer + 2) @ p(f"W{layer + 3}", d=d, d_mlp=d_mlp) + p(f"B{layer + 3}", d_mlp=d_mlp),
                   approximate="tanh", fused=True)
        x = x + h @ p(f"W{layer + 4}", d_mlp=d_mlp, d=d) + p(f"B{layer + 4}", d=d)
        layer += 5
    logits = norm(x, layer) @ p(f"W{layer + 1}", d=d, vocab=vocab) + p(f"B{layer + 1}", vocab=vocab)
    loss = F.mean(F.cross_entropy(logits, targets, dim="vocab"), dim=("b", "seq"))
    return tg, loss, params, dims, b


def tensorgrad_layout(name: str, value: np.ndarray) -> np.ndarray:
    """symbackprop's (out, in) weights and (n, 1) biases as tensorgrad's edges (in the order ``build`` names them)."""
    if name in ("E1", "P2"):
        return value.T  # (vocab, d), (seq, d)
    if name[:2] in ("Wq", "Wk", "Wv"):
        return value.T.reshape(DIM, HEADS, DIM // HEADS)  # (d, head, hs): heads split the rows in order
    if name[:2] in ("Bq", "Bk", "Bv"):
        return value.reshape(HEADS, DIM // HEADS)
    if name.startswith("Wo"):
        return value.T.reshape(HEADS, DIM // HEADS, DIM)
    return value.T if name.startswith("W") else value.reshape(-1)


def main():
    problem, repeat, step, params, dims, compile_s = compiled(build, LR)
    values = {n: tensorgrad_layout(n, problem[n]) for n in params}
    values.update(X=problem["X"].T, Y=problem["Y"].transpose(2, 1, 0),
                  mask=np.triu(np.full((T, T), -1e9), k=1))
    names = {n: tuple(var.shape) for n, var in params.items()}  # each edge in the order build names it
    names.update(X=("b", "seq"), Y=("b", "seq", "vocab"), mask=("seq", "key"))
    report(step, values, names, dims, repeat, compile_s)


if __name__ == "__main__":
    main()
