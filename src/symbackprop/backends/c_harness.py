"""The C export's test harness: ``test_NAME.c`` with golden vectors, which exits 1 on a mismatch."""

from __future__ import annotations

import numpy as np

from ..program import Program
from .c_code import c_array, c_dims, each_entry, n_inputs, n_outputs


def harness(program: Program, name: str, dtype: str, params: dict, X: np.ndarray, Y: np.ndarray,
            outputs: np.ndarray, costs: np.ndarray, grads: list[dict], norm: float | None = None,
            source: str = "symbackprop") -> str:
    """``test_NAME.c``: golden vectors (samples as rows: X (m, inputs), Y and outputs (m, outputs), a cost and
    gradients per sample) computed by ``source``; exits 1 on any mismatch.  Entry by entry to 1e-4 (float32) or
    1e-10, or with ``norm`` each gradient as a whole: ‖g − g_ref‖ / ‖g_ref‖ ≤ norm, where a gradient that is 0
    in exact arithmetic (attention's key bias: rounding noise in both) is measured against a thousandth of the
    sample's largest gradient norm instead."""
    tol = "1e-4" if dtype == "float32" else "1e-10"
    m, n_in, n_out = X.shape[0], n_inputs(program), n_outputs(program)
    shapes = {q.name: q.shape for q in program.params}
    pinit = ",\n".join(f"    .{q} = {c_array(params[q], dtype)}" for q in shapes)
    checks = []
    for k in range(m):
        floor = 1e-3 * max(float(np.linalg.norm(grads[k][q])) for q in shapes)
        for q, shape in shapes.items():
            want = f"    {{ static const {name}_real want{c_dims(shape)} = {c_array(grads[k][q], dtype)};\n"
            if norm is None:
                checks.append(want + "      " + each_entry(shape, f"bad += check(\"d{q}\", {k}, g[{k}].{q}{{at}}, "
                                                            "want{at});") + " }")
                continue
            checks.append(want + "      double d = 0, w = 0;\n      " + each_entry(
                shape, f"{{{{ d += pow(g[{k}].{q}{{at}} - want{{at}}, 2); w += pow(want{{at}}, 2); }}}}")
                + f"\n      bad += relative(\"d{q}\", {k}, sqrt(d), fmax(sqrt(w), {floor!r})); }}")
    relative = "" if norm is None else f"""
static int relative(const char *what, int sample, double diff, double size) {{
    if (diff <= {norm!r} * size) return 0;
    printf("MISMATCH %s (sample %d): |g - g_ref| / |g_ref| = %.3g, above {norm!r}\\n", what, sample, diff / size);
    return 1;
}}
"""
    return f"""/* test_{name}.c: golden vectors computed by {source}; exits 1 on a mismatch. */
#include <math.h>
#include <stdio.h>
#include "{name}.h"

static int check(const char *what, int sample, double got, double want) {{
    double tol = {tol} * (fabs(want) > 1 ? fabs(want) : 1);
    if (fabs(got - want) <= tol) return 0;
    printf("MISMATCH %s (sample %d): got %.17g, want %.17g\\n", what, sample, got, want);
    return 1;
}}
{relative}
int main(void) {{
    static const {name}_params p = {{
{pinit}
    }};
    static const {name}_real X[{m}][{n_in}] = {c_array(X, dtype)};
    static const {name}_real Y[{m}][{n_out}] = {c_array(Y, dtype)};
    static const {name}_real OUT[{m}][{n_out}] = {c_array(outputs, dtype)};
    static const {name}_real COST[1][{m}] = {c_array(np.asarray(costs)[None], dtype)};
    static {name}_params g[{m}];
    int bad = 0;
    for (int k = 0; k < {m}; ++k) {{
        {name}_real out[{n_out}];
        {name}_forward(&p, X[k], out);
        for (int i = 0; i < {n_out}; ++i) bad += check("output", k, out[i], OUT[k][i]);
        bad += check("cost", k, {name}_backward(&p, X[k], Y[k], &g[k]), COST[0][k]);
    }}
{chr(10).join(checks)}
    printf("%s: %d mismatches in %d samples\\n", bad ? "FAIL" : "OK", bad, {m});
    return bad ? 1 : 0;
}}
"""
