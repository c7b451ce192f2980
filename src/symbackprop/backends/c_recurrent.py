"""The C loops of a recurrence (``recur``: an RNN's or LSTM's states) and of its adjoint (``bptt``), one sample.

A recurrence is not an entry-by-entry loop nest: position t reads position t − 1's states, and backpropagation
through time position t + 1's δ.  So each is one loop over the positions (forwards, or backwards), and inside it
loops over the units: a tanh or ReLU cell ``h_t = f(z_t + Wh·h_{t−1})``; an LSTM's four gates (i, f, g, o: rows
k·n + u of z and Wh), its cell and hidden state, its state ``[h; c; i; f; g; o]`` kept for the backward pass.
"""

from __future__ import annotations

from .. import matexpr as mx


def _ref(x: mx.M):
    if x.op != "ref":  # pragma: no cover - a recurrence's layer passes named values
        raise ValueError(f"a recurrence in C reads named values, not {x.op}")
    return x.key


def recur_lines(step, access, real: str, f: str) -> list[str]:
    """``S = recur(Z, Wh)``: S's column t from Z's and S's column t − 1 (the h rows), t = 0 .. T − 1."""
    z, w = (_ref(a) for a in step.expr.args)
    cell = step.expr.attr("cell")
    n, T = step.expr.args[1].shape[1], step.shape[1]
    S, Z, W = (lambda i, t, key=key: access(key, [i, t]) for key in (step.key, z, w))

    def pre(row: str) -> list[str]:  # a = z_t + Wh·h_{t−1} for one row of z
        return [f"a = {Z(row, 't')};",
                f"if (t > 0) for (int j = 0; j < {n}; ++j) a += {access(w, [row, 'j'])} * {S('j', 't - 1')};"]

    lines = [f"for (int t = 0; t < {T}; ++t) {{", f"    for (int u = 0; u < {n}; ++u) {{", f"        {real} a;"]
    if cell != "lstm":
        act = f"tanh{f}(a)" if cell == "tanh" else f"fmax{f}(a, 0)"
        lines += ["        " + line for line in pre("u")] + [f"        {S('u', 't')} = {act};"]
    else:
        gates = {}
        for k, gate in enumerate("ifgo"):
            lines += ["        " + line for line in pre(f"{k * n} + u")]
            gates[gate] = f"g_{gate}"
            fn = f"tanh{f}(a)" if gate == "g" else "sbp_logistic(a)"
            lines.append(f"        {real} g_{gate} = {fn};")
        lines += [f"        {real} c = g_f * (t > 0 ? {S(f'{n} + u', 't - 1')} : 0) + g_i * g_g;",
                  f"        {S('u', 't')} = g_o * tanh{f}(c);", f"        {S(f'{n} + u', 't')} = c;"]
        lines += [f"        {S(f'{(k + 2) * n} + u', 't')} = g_{gate};" for k, gate in enumerate("ifgo")]
    return lines + ["    }", "}"]


def bptt_lines(step, access, real: str, f: str) -> list[str]:
    """``D = bptt(G, S, Wh)``: D's column t from G's, the states and D's column t + 1, t = T − 1 .. 0."""
    g, s, w = (_ref(a) for a in step.expr.args)
    cell = step.expr.attr("cell")
    rows, T = step.shape
    n = step.expr.args[2].shape[1]
    D, S = (lambda i, t, key=key: access(key, [i, t]) for key in (step.key, s))
    lines = [f"for (int t = {T - 1}; t >= 0; --t) {{", f"    for (int u = 0; u < {n}; ++u) {{",
             f"        {real} dh = {access(g, ['u', 't'])};",
             f"        if (t < {T - 1}) for (int r = 0; r < {rows}; ++r) "
             f"dh += {access(w, ['r', 'u'])} * {D('r', 't + 1')};"]
    if cell == "tanh":
        lines.append(f"        {D('u', 't')} = dh * (1 - {S('u', 't')} * {S('u', 't')});")
    elif cell == "relu":
        lines.append(f"        {D('u', 't')} = {S('u', 't')} > 0 ? dh : 0;")
    else:
        i, fg, gg, o = (S(f"{k * n} + u", "t") for k in range(2, 6))
        lines += [f"        {real} tc = tanh{f}({S(f'{n} + u', 't')});",
                  f"        {real} c_prev = t > 0 ? {S(f'{n} + u', 't - 1')} : 0;",
                  f"        {real} dc = dh * {o} * (1 - tc * tc);",
                  f"        if (t < {T - 1}) dc += dc_next[u] * {S(f'{3 * n} + u', 't + 1')};",
                  f"        {D('u', 't')} = dc * {gg} * {i} * (1 - {i});",
                  f"        {D(f'{n} + u', 't')} = dc * c_prev * {fg} * (1 - {fg});",
                  f"        {D(f'{2 * n} + u', 't')} = dc * {i} * (1 - {gg} * {gg});",
                  f"        {D(f'{3 * n} + u', 't')} = dh * tc * {o} * (1 - {o});",
                  "        dc_now[u] = dc;"]
    lines += ["    }"]
    if cell == "lstm":  # dc_{t+1} for the next position back
        lines = [f"{real} dc_next[{n}] = {{0}}, dc_now[{n}] = {{0}};", *lines,
                 f"    for (int u = 0; u < {n}; ++u) dc_next[u] = dc_now[u];"]
    return lines + ["}"]
