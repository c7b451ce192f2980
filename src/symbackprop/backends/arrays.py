"""One printer of a Program's steps as whole-array code, spelled per array library (NumPy, JAX, PyTorch)."""

from __future__ import annotations

import math
from dataclasses import replace

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..naming import Deriv
from ..program import Program
from . import heads
from .dialects import NUMPY, Dialect
from .loops import comment
from .sharing import folded, repeated, scalar_of, shared_calls, shared_once


def _with_batch(shape) -> str:
    """A per-sample shape in code, its sample axis the batch: ``8, 4, 4, m``."""
    return ", ".join([*map(str, shape[:-1]), "m"])


def gemm_plan(subscripts: str) -> tuple[int, bool, int, bool] | None:
    """``(ka, ta, kb, tb)`` when a two-operand contraction is one matrix product of 2-D views (``_gemm``): the
    summed indices one contiguous run, in the same order, at one end of each operand, and the output the free
    indices of the first then the second; ``None`` otherwise (einsum does it)."""
    ins, out = subscripts.split("->")
    if ins.count(",") != 1:
        return None
    la, lb = ins.split(",")
    summed = "".join(c for c in la if c in lb and c not in out)
    fa, fb = la.replace(summed, "", 1), lb.replace(summed, "", 1)
    if not summed or out != fa + fb or any(c in fb for c in fa) or len(set(la + lb)) != len(fa + fb + summed):
        return None
    if la == fa + summed:
        ka, ta = len(fa), False
    elif la == summed + fa:
        ka, ta = len(summed), True
    else:
        return None
    if lb == summed + fb:
        return ka, ta, len(summed), False
    if lb == fb + summed:
        return ka, ta, len(fb), True
    return None


def tensor_code(x: mx.M, args: list[str], dialect: Dialect) -> str:
    """Source for a tensor op over a batch (its arguments' source given)."""
    wrap = [a if a.isidentifier() else f"({a})" for a in args]
    if x.op == "contract":
        plan = gemm_plan(x.attr("subscripts"))
        if plan is not None:  # one matrix product of two reshaped views: no copies, where einsum may make some
            return f"_gemm({args[0]}, {plan[0]}, {plan[1]}, {args[1]}, {plan[2]}, {plan[3]})"
        return dialect.einsum.format(x.attr("subscripts"), ", ".join(args))
    if x.op == "window":
        (kh, kw), s, p = x.attr("k"), x.attr("stride"), x.attr("pad")
        return f"_window({args[0]}, {kh}, {kw}, {s}, {p})"
    if x.op == "unwindow":
        _, h, w, _ = x.shape
        return f"_unwindow({args[0]}, {h}, {w}, {x.attr('stride')}, {x.attr('pad')})"
    if x.op == "wmax":
        return dialect.wmax.format(wrap[0])
    if x.op == "wroute":
        return f"_route({args[0]}, {args[1]})"
    if x.op == "reshape":
        return f"{wrap[0]}.reshape({_with_batch(x.shape)})"
    if x.op == "gather":  # ids (T, m), a context window per column, or (1, m): one column a position
        ids = dialect.ids.format(f"{wrap[1]}[0]" if len(x.shape) == 2 else wrap[1])
        return f"{wrap[0]}[:, {ids}]"
    if x.op == "positions":  # each column's position: 0 .. T − 1, sample after sample
        return dialect.positions.format(x.shape[1])
    if x.op == "rows":
        return f"{wrap[0]}[{x.attr('start')}:{x.attr('stop')}]"
    if x.op == "unrows":
        top = x.attr("start")
        return dialect.unrows.format(x=args[0], top=top, bottom=x.shape[0] - top - x.args[0].shape[0])
    if x.op == "stack":
        return dialect.stack.format(", ".join(args))
    if x.op == "sdot":  # per sample: T columns each (the operands' per-sample columns)
        return f"_sdot({args[0]}, {args[1]}, {x.args[0].shape[1]}, {x.attr('ta')}, {x.attr('tb')})"
    if x.op == "causal":
        fill = "float('-inf')" if x.attr("fill") < 0 else "0.0"
        return f"_causal({args[0]}, {x.shape[1]}, {fill})"
    if x.op == "recur":  # per sample: T columns each
        return f"_recur({args[0]}, {args[1]}, {x.shape[1]}, {x.attr('cell')!r})"
    if x.op == "bptt":
        return f"_bptt({args[0]}, {args[1]}, {args[2]}, {x.shape[1]}, {x.attr('cell')!r})"
    if x.op == "lag":
        return f"_lag({args[0]}, {x.shape[1]})"
    if x.op == "scatter" and x.args[1].op == "positions":  # a positional table's: each position summed over samples
        return dialect.position_sum.format(wrap[0], x.shape[0], x.shape[1])
    if x.op == "scatter":
        return f"_scatter({args[0]}, {dialect.ids.format(wrap[1])}, {x.shape[1]})"
    if x.op == "chan":
        return f"{wrap[0]}.reshape(-1{', 1' * (len(x.shape) - 1)})"
    if x.op == "expand":
        axes = x.attr("axes")
        index = ", ".join("None" if k in axes else ":" for k in range(len(x.shape)))
        return dialect.expand.format(f"{wrap[0]}[{index}]", _with_batch(x.shape))
    raise ValueError(f"no array code for {x.op}")  # pragma: no cover


def uses(x: mx.M, ops) -> bool:
    """Whether ``x`` has a node of one of ``ops``."""
    return x.op in ops or any(uses(a, ops) for a in x.args)


def helpers_for(program: Program, dialect: Dialect) -> str:
    """The tensor helpers a Program's code calls: windows for an image network, the scatter-add for tokens, the
    products and mask of attention, the recurrences of an RNN or LSTM."""
    tokens = any(s.expr is not None and uses(s.expr, ("scatter",)) for s in program.steps)
    attention = any(s.expr is not None and uses(s.expr, ("sdot",)) for s in program.steps)
    recurrent = any(s.expr is not None and uses(s.expr, ("recur",)) for s in program.steps)
    return ((dialect.helpers if mx.is_tensor(program.input.shape) else "") + (dialect.tokens if tokens else "")
            + (dialect.sequences if attention else "") + (dialect.recurrences if recurrent else ""))


def expr_code(x: mx.M, dialect: Dialect = NUMPY, printer=None, names: dict | None = None) -> str:
    """Source for a matrix expression over a batch (names are the keys' names; ``names``: code for given nodes)."""
    if names and x in names:
        return names[x]
    printer = printer or dialect.printer()
    if x.op == "fn":
        args = [expr_code(a, dialect, printer, names) for a in x.args]
        syms = {v: sp.Symbol(code if code.isidentifier() else f"({code})") for v, code in zip(x.fn.vars, args)}
        return shared_once(folded(x.fn.expr).xreplace(syms), printer)
    if x.op == "colsum" and dialect.colsum_dot and _same_shaped(x.args[0], names):  # Σ(a ⊙ b): one pass
        return dialect.colsum_dot.format(*(expr_code(y, dialect, printer, names) for y in x.args[0].args))
    if x.op in ("colsum", "colmax", "bmean", "T"):
        inner = expr_code(x.args[0], dialect, printer, names)
        inner = inner if inner.isidentifier() else f"({inner})"
        return getattr(dialect, x.op).format(inner)
    if x.op == "ones":
        return dialect.ones.format(x.shape[0])
    if x.op in mx.TENSOR_OPS:
        return tensor_code(x, [expr_code(a, dialect, printer, names) for a in x.args], dialect)
    if x.op in ("ref", "const"):
        return mx.render(x, str, {**mx.TEXT, "const": "{!r}"})
    if x.op == "had" and x.args[0].op == "const" and x.args[1].op == "sdot" and \
            math.prod(x.args[1].args[0].shape) < math.prod(x.shape):  # c·(A·B) as (c·A)·B: A is the smaller
        a, b = x.args[1].args
        return expr_code(replace(x.args[1], args=(mx.had(x.args[0], a), b)), dialect, printer, names)
    if x.op == "dot" and len(x.args) == 2 and x.args[1].op != "T" and dialect.wide_dot:
        a, b = (expr_code(y.args[0] if y.op == "T" else mx.T(y), dialect, printer, names) for y in reversed(x.args))
        return dialect.wide_dot.format(a, b)
    prec = mx.PREC[x.op]
    parts = []
    for a in x.args:
        code = expr_code(a, dialect, printer, names)
        binary = a.op in ("dot", "had", "add", "sub")
        tight = mx.PREC[a.op] < prec or (mx.PREC[a.op] == prec and (a.op != x.op or x.op == "sub"))
        parts.append(f"({code})" if binary and tight else code)
    return {"dot": " @ ", "had": " * ", "add": " + ", "sub": " - "}[x.op].join(parts)


def _into(program: Program, s, dialect: Dialect, target: str) -> list[str]:
    """A gradient step written into ``target`` (a view): by the product's or the sum's own ``out=`` where it is
    one, else computed and copied in."""
    terms = added_terms(program, s.expr)
    x = terms[0]
    if len(terms) == 1 and program.batched(x) == "col":
        return [f"{s.lhs} = {dialect.rowsum_into.format(expr_code(x, dialect), target)}"]
    if len(terms) == 1 and x.op == "dot" and len(x.args) == 2:
        a, b = (expr_code(y, dialect) for y in x.args)
        return [f"{s.lhs} = {dialect.matmul_into.format(a, b, target)}"]
    total = " + ".join(_batch_total(program, term, dialect) for term in terms)
    return [f"{s.lhs} = {total}", f"{target}[...] = {s.lhs}"]


def lines(program: Program, steps, dialect: Dialect = NUMPY, indent: str = "    ", into: dict | None = None,
          then: dict | None = None) -> list[str]:
    """Each step as one commented assignment; gradients summed over the batch, the cost to one number.
    ``into``: gradient steps (by key) written into the array that code names (a view of a flat buffer);
    ``then``: lines (by step key) printed right after that step's.  An attention layer's per-head steps of one kind
    print as one where the dialect has the head axis's reductions (:mod:`.heads`)."""
    out, shared, named, printer = [], shared_calls(steps), {}, dialect.printer()
    dialect = dialect if program.positions else replace(dialect, wide_dot="")
    skip = {s.key for s in steps if (into and s.key in into) or (then and s.key in then)
            or any(scalar_of(s).has(c) for c in shared)}  # steps printed their own way: never joined
    of = {s.key: f for f in (heads.families(steps, skip) if dialect.heads_colsum else {}).values() for s in f.members}
    batched: dict = {}
    pending, printed, commons = {s.key for s in steps}, set(), []
    for s in steps:
        printed.add(s.key)
        fam = of.get(s.key)
        if fam is not None and fam.key in batched:
            continue
        if fam is not None and heads.ready(fam, printed, batched, pending):
            out += [indent + line for line in _heads_lines(fam, dialect, printer, batched)]
            batched[fam.key] = fam
            printed.update(m.key for m in fam.members)
            continue
        if fam is not None:  # not ready at its first head: every head of it prints on its own
            for m in fam.members:
                of.pop(m.key)
        if into and s.key in into:
            out.append(f"{indent}# {comment(s)}")
            out += [indent + line for line in _into(program, s, dialect, into[s.key])]
            continue
        joins = heads.stacked(s.expr, batched) if batched and s.expr is not None and uses(s.expr, ("stack",)) else {}
        if s.role == "gradient":
            code = " + ".join(_batch_total(program, term, dialect) for term in added_terms(program, s.expr))
        elif s.role == "cost":  # only the batch's total is needed: a dot product where the sum is of one
            data, *decay = added_terms(program, s.expr)
            inner = data.args[0]
            if inner.op == "had" and inner.args[0].shape == inner.args[1].shape:
                code = dialect.inner.format(expr_code(inner.args[0], dialect), expr_code(inner.args[1], dialect))
            else:
                code = dialect.total.format(expr_code(inner, dialect))
            code += "".join(" + m * " + dialect.total.format(expr_code(term, dialect)) for term in decay)
        elif any(scalar_of(s).has(call) for call in shared):  # a function call another step makes too: once
            scalar = scalar_of(s)
            for call in (c for c in shared if scalar.has(c) and c not in named):
                named[call] = f"_shared{len(named)}"
                out.append(f"{indent}{named[call]} = {printer.doprint(call)}  # {shared[call]} steps read it")
            code = shared_once(scalar.xreplace({c: sp.Symbol(n) for c, n in named.items()}), printer)
        else:
            for sub in repeated(s.expr):  # a subexpression the step reads twice: once, before it
                code = expr_code(sub, dialect, printer, joins)
                joins[sub] = f"_common{len(commons)}"
                commons.append(joins[sub])
                out.append(f"{indent}{joins[sub]} = {code}  # read twice below")
            code = expr_code(s.expr, dialect, names=joins)
        out.append(f"{indent}# {comment(s)}")
        out.append(f"{indent}{s.lhs} = {code}")
        out += [indent + line for line in (then or {}).get(s.key, ())]
    return out


def _heads_lines(fam, dialect: Dialect, printer, batched: dict) -> list[str]:
    """A family of per-head steps as one array (heads, rows, columns), each head's value then named (views)."""
    on_heads = replace(dialect, colsum=dialect.heads_colsum, colmax=dialect.heads_colmax,
                       colsum_dot=dialect.heads_colsum_dot)
    code = expr_code(fam.form, on_heads, printer, {**heads.names(fam), **heads.stacked(fam.form, batched)})
    first, n = fam.members[0], len(fam.members)
    return [f"# {comment(first)}, and heads 2..{n} alike: one array ({n}, rows, columns)",
            f"{fam.name} = {code}",
            f"{', '.join(m.lhs for m in fam.members)} = {fam.name}"]


def added_terms(program: Program, x: mx.M) -> list[mx.M]:
    """The added terms of a gradient or cost: one, or a data term then weight decay."""
    return list(x.args) if x.op == "add" and any(_params_only(program, a) for a in x.args[1:]) else [x]


def _params_only(program: Program, x: mx.M) -> bool:
    """A constant times the parameters alone (weight decay's term): the same for every sample."""
    return x.op == "had" and x.args[0].op == "const" and set(mx.refs(x)) <= program.param_keys


def _batch_total(program: Program, term: mx.M, dialect: Dialect) -> str:
    """A gradient term summed over the batch: a per-sample column summed, a product that sums already as it is,
    a term of the parameters alone (weight decay) once per sample."""
    code = expr_code(term, dialect)
    if _params_only(program, term):
        return f"m * ({code})"
    if program.batched(term) != "col":
        return code
    if dialect.rowsum_dot and _same_shaped(term) and all(program.batched(a) == "col" for a in term.args):
        return dialect.rowsum_dot.format(*(expr_code(a, dialect) for a in term.args))
    return dialect.rowsum.format(code)


def _same_shaped(x: mx.M, names: dict | None = None) -> bool:
    """``a ⊙ b`` of two matrices of one shape, each a named array: a value, a δ or a subexpression computed once
    (not a local derivative, which may print as the number 1)."""
    return (x.op == "had" and len(x.args) == 2 and x.args[0].shape == x.args[1].shape and len(x.shape) == 2
            and all((names and a in names) or (a.op == "ref" and not _local(a.key)) for a in x.args))


def _local(key) -> bool:
    return isinstance(key, Deriv) and key.num != naming.C


def split_pullback(upstream: Program, dialect: Dialect) -> tuple[list[str], list[str], list[str]]:
    """The VJP Program (target: an upstream gradient) cut where a framework cuts it: ``(forward lines, saved
    forward values the backward reads, backward lines)``; the backward ends in every parameter's ``dC_d*``
    and ``dC_dX``."""
    from ..naming import X, grad

    roots = [upstream.gradient(p).key for p in upstream.params] + [grad(X)]
    needed = upstream.needed(roots)
    fwd = upstream.needed([upstream.output.key])
    back = [s for s in needed if s.role != "forward"]
    read = {k for s in back for k in mx.refs(s.expr)}
    saved = [str(s.key) for s in fwd if s.key in read]
    return lines(upstream, fwd, dialect), saved, lines(upstream, back, dialect)


def batch_lines(program: Program, dialect: Dialect = NUMPY, indent: str = "    ", targets: bool = True) -> str:
    """``m = X.shape[1]``: the batch's size (X's columns are its samples); for an image network X is columns of
    C·H·W features (in C order) or (N, C, H, W) images, samples first, and becomes (C, H, W, m).  A sequence's ids
    X (T, m) and (with ``targets``) its targets Y (n_outputs, T, m) become one column a position, sample after
    sample, and ``m`` counts the positions (the cost and gradients are means over them)."""
    if program.positions:
        lines = [f"{indent}X = X.T.reshape(1, -1)  # ids (T, m): one column a position, sample after sample"]
        if not targets:
            return "\n".join([*lines, f"{indent}m = X.shape[1]"])
        lines.append(f"{indent}Y = {dialect.seq_targets}  # (n_outputs, T, m): the same columns")
        count = "Y.sum()" if program.padded else "X.shape[1]"
        return "\n".join([*lines, f"{indent}m = {count}  # the positions with a target: the mean is over them"])
    if not mx.is_tensor(program.input.shape):
        return f"{indent}m = X.shape[1]"
    c, h, w, _ = program.input.shape
    return (f"{indent}X = X.reshape({c}, {h}, {w}, X.shape[1]) if X.ndim == 2 else "
            f"{dialect.batch_last.format('X')}  # C·H·W features per column, or (N, C, H, W) images\n"
            f"{indent}m = X.shape[-1]")


def unpack_lines(program: Program) -> str:
    """``W1 = params["W1"]`` for every parameter, and every extra input (a dropout mask ``M2``), which comes in
    ``params`` too."""
    names = [p.name for p in program.params] + [str(k) for k, _ in program.extras]
    return "\n".join(f'    {n} = params["{n}"]' for n in names)


def layout_note(prefix: str) -> str:
    """The module docstring's word on its layout: the derivation's columns, or (an export) rows to call."""
    if not prefix:
        return " (samples are columns, X is (n_inputs, m))"
    return (".\n\nSamples are rows: forward, predict, cost, gradients and sgd_step take X (m, n_inputs) and Y "
            "(m, n_outputs); forward\nreturns the logits of a logistic or softmax output, predict_proba the "
            f"probabilities. The {prefix}* functions keep\nthe derivation's own layout (samples are columns)")


def core_functions(program: Program, dialect: Dialect, gradients: str = "gradients", prefix: str = "") -> str:
    """``forward``, ``predict``, ``cost`` and the gradients function (named ``gradients``) as source: what every
    array module has, in the dialect's spelling (samples are columns); each name after ``prefix`` (an export
    keeps these as ``columns_forward``, ... beside its samples-as-rows functions)."""
    unpack, batch = unpack_lines(program), batch_lines(program, dialect)
    batch_x = batch_lines(program, dialect, targets=False)
    out_key = program.output.key
    grads = [program.gradient(p) for p in program.params]
    fwd = lines(program, program.needed([out_key]), dialect)
    train = lines(program, program.needed([program.cost] + [g.key for g in grads]), dialect)
    cost_only = lines(program, program.needed([program.cost]), dialect)
    layers = ", ".join(f'"{s.lhs}": {s.lhs}' for s in program.needed([out_key]))
    mean = ", ".join(f'"{p.name}": {g.lhs} / m' for p, g in zip(program.params, grads))
    nl = "\n"
    return f'''def {prefix}forward(params, X):
    """Every forward value for X of shape (n_inputs, m): {{"Z1": ..., "A1": ..., ...}}."""
{unpack}
{batch_x}
{nl.join(fwd)}
    return {{{layers}}}


def {prefix}predict(params, X):
    """The output layer {out_key} for X of shape (n_inputs, m)."""
    return {prefix}forward(params, X)["{out_key}"]


def {prefix}cost(params, X, Y):
    """The mean cost over the m columns of X, Y."""
{unpack}
{batch}
{nl.join(cost_only)}
    return C / m


def {prefix}{gradients}(params, X, Y):
    """(cost, grads): the mean cost over the m columns of X, Y and its derived gradient for every parameter."""
{unpack}
{batch}
{nl.join(train)}
    return C / m, {{{mean}}}
'''
