"""One reverse sweep: a network's layer graph becomes one Program of named, shaped steps."""

from __future__ import annotations

import dataclasses

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..activations import a
from ..costs import y
from ..program import Program, Step


def sweep(network, input_grad: bool = False) -> Program:
    """Forward steps in graph order, the cost, every local derivative, then one reverse pass.

    The reverse pass visits nodes from the output back; a node's δ (``dC_d{out}``) is the sum of what
    every consumer sent it (a fan-in adds), and its VJP sends on to its inputs and parameters (and gives the δ of a
    value it makes on the way, which what it sends next may read: an RNN's ``dC_dZ``, read by three gradients).
    ``input_grad`` adds ``dC_dX`` (for a network inside a larger one, whose inputs learn too).
    """
    nodes = network.nodes
    if input_grad:
        nodes = tuple(dataclasses.replace(n, site=dataclasses.replace(
            n.site, needs_grad=tuple(g or k == naming.X for g, k in zip(n.site.needs_grad, n.site.ins))))
            for n in nodes)
    last = nodes[-1]
    target = mx.ref(naming.Y, (network.outputs, network.input_shape[-1]))  # a sequence's: one per position
    steps: list[Step] = []
    for node in nodes:
        steps += node.layer.forward(node.site)
    steps += _with_decay(network, network.cost.steps(last.layer, last.site, target))
    steps.append(network.cost.local(last.site, target))
    for node in reversed(nodes):
        steps += node.layer.local(node.site)
    combined = network.cost.combined(last.layer)
    param_shapes = {p.key: p.shape for p in network.params}
    penalised = {p.key: mx.had(mx.const(2 * network.l2), mx.ref(p.key, p.shape)) for p in network.params
                 if p.penalised and network.l2}
    pending: dict = {}
    # a sequence's one-hot targets may leave a position out (padding): the softmax cross-entropy's collapse then
    # carries Σ(Y), 1 where a position has a target, and the mean is over those positions
    padded = bool(network.positions) and combined is not None and network.cost.targets == "one-hot"
    for node in reversed(nodes):
        site = node.site
        if node is last and combined is not None:  # the output activation with its cost: dC_dZ = A - Y
            delta = mx.sub(site.y, target)
            pending[site.ins[0]] = [(mx.had(mx.colsum(target), delta) if padded else delta, None)]
            continue
        if node is last:
            g = mx.ref(naming.grad(site.out), site.shape)  # the cost's local derivative itself
        else:
            parts = pending.pop(site.out)
            shown = mx.add(*(s for s, _ in parts))
            computed = mx.total(*(c or s for s, c in parts))
            steps.append(Step(naming.grad(site.out), computed, site.shape, "delta",
                              shown=None if computed == shown else shown))
            g = mx.ref(naming.grad(site.out), site.shape)
        for key, shown, computed in node.layer.vjp(site, g):
            if key in param_shapes:
                decay = penalised.get(key)
                if decay is not None:  # weight decay: + 2λ·W in this weight's gradient
                    shown, computed = mx.add(shown, decay), (mx.add(computed, decay) if computed is not None else None)
                steps.append(Step(naming.grad(key), computed or shown, param_shapes[key], "gradient",
                                  shown=shown if computed is not None else None))
            elif key not in site.ins:  # a value the layer makes on the way (an RNN's input part): its δ now,
                steps.append(Step(naming.grad(key), computed or shown, shown.shape, "delta",  # for what follows
                                  shown=shown if computed is not None else None))
            elif site.needs_grad[site.ins.index(key)]:
                pending.setdefault(key, []).append((shown, computed))
    if input_grad:  # token ids are not learned: nothing flows back to them, their gradient is 0
        x = mx.ref(naming.X, network.input_shape)
        parts = pending.pop(naming.X, [(mx.const(0.0, network.input_shape), mx.had(mx.const(0.0), x))])
        steps.append(Step(naming.grad(naming.X), mx.add(*(c or s for s, c in parts)), network.input_shape, "delta",
                          shown=mx.add(*(s for s, _ in parts))))
    shown_combined = None
    if combined is not None:
        shown_combined = combined.subs({a: naming.symbol(last.site.out), y: naming.symbol(naming.Y)},
                                       simultaneous=True)
    return Program(network.spec, network.cost.name, tuple(steps), network.params,
                   mx.ref(naming.X, network.input_shape), target, last.site.y, naming.C, shown_combined,
                   network.masks, network.positions, padded)


def _with_decay(network, cost_steps: list[Step]) -> list[Step]:
    """The cost plus λ·Σ‖W‖² (every penalised parameter's squared entries, summed) when the network has ``l2``."""
    if not network.l2:
        return cost_steps
    squares = [mx.colsum(mx.T(mx.colsum(mx.had(mx.ref(p.key, p.shape), mx.ref(p.key, p.shape)))))
               for p in network.params if p.penalised]
    (step,) = cost_steps
    return [Step(step.key, mx.add(step.expr, mx.had(mx.const(network.l2), mx.add(*squares))), step.shape, "cost")]


def _consumers(network) -> dict:
    """``key -> [nodes that read it]``, in graph order."""
    out: dict = {}
    for node in network.nodes:
        for key in node.site.ins:
            out.setdefault(key, []).append(node)
    return out


def paths(network, key, memo: dict | None = None) -> list[list]:
    """Every chain of local-derivative keys from the cost down to ``key`` (one per path through the graph); each
    key's paths are found once (``memo``), so all of them cost no more than their own length."""
    memo = {} if memo is None else memo
    consumers = memo.setdefault("consumers", _consumers(network))
    order = [key]  # the keys below the cost that lead to ``key``, found without recursion
    seen, stack = {key}, [key]
    while stack:
        for node in consumers.get(stack.pop(), ()):
            if node.site.out not in seen:
                seen.add(node.site.out)
                order.append(node.site.out)
                stack.append(node.site.out)
    last = network.nodes[-1].site.out
    position = {node.site.out: n for n, node in enumerate(network.nodes)}
    for k in sorted(order, key=lambda k: position.get(k, -1), reverse=True):  # nearest the cost first
        if k in memo:
            continue
        if k == last:
            memo[k] = [[naming.grad(last)]]
            continue
        memo[k] = [p + [naming.local(node.site.out, k)] for node in consumers.get(k, ())
                   for p in memo[node.site.out]]
    return memo[key]


def route_factors(network) -> int:
    """How many factors the chain rule of every parameter, written out path by path, would have (counted, not
    written: residual connections multiply the paths)."""
    consumers, count, length = _consumers(network), {}, {}
    for node in reversed(network.nodes):
        k = node.site.out
        if k == network.nodes[-1].site.out:
            count[k], length[k] = 1, 1
        else:
            count[k] = sum(count[c.site.out] for c in consumers.get(k, ()))
            length[k] = 1 + max((length[c.site.out] for c in consumers.get(k, ())), default=0)
    return sum(count[node.site.out] * (length[node.site.out] + 1) for node in network.nodes for _ in node.site.params)


def chain_product(program: Program, local: dict, factors) -> sp.Expr:
    """The product of the local derivatives along a chain, with the output collapse where it applies."""
    exprs = [local[str(f)].expr for f in factors]
    if program.combined is not None:
        exprs = [program.combined, *exprs[2:]]
    return sp.Mul(*exprs)
