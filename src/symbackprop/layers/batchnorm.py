"""Batch normalisation, as ``torch.nn.BatchNorm1d``: in training the statistics of the batch, in prediction the
running mean and variance the training kept (momentum 0.1; the variance's running estimate unbiased).

Training: ``N = γ ⊙ (Z − μ_B)/σ_B + β`` with μ_B and σ_B² the mean and biased variance of each unit over the
batch (σ = √(σ² + ε), ε = 1e-5), so samples are coupled: the Jacobian is over the batch,
``dN_k/dZ_l = γ (δ_kl − 1/m − X̂_k X̂_l / m) / σ`` for one unit, and the VJP is LayerNorm's closed form with the
means taken over the batch (proven the same way).  Prediction (:class:`BatchNormEval`, in ``network.eval()``):
``N = γ ⊙ (Z − running_mean)/√(running_var + ε) + β``, elementwise, in every backend and export.
"""

from __future__ import annotations

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..program import Param, Step
from .base import Layer, Site
from .norm import EPS, LayerNorm, closed_form_holds, jacobian_form_holds

MOMENTUM = 0.1
_z, _m, _v, _c, _b = sp.symbols("z m v c b", real=True)


class BatchNorm(LayerNorm):
    """Training mode: the statistics of the batch (every unit on its own)."""

    kind = "batchnorm"
    name = "batchnorm"
    over = "the batch"

    def stat_shape(self, site: Site) -> tuple[int, int]:
        return site.shape  # one μ, σ², σ per unit

    def mean(self, site: Site, x: mx.M) -> mx.M:
        return mx.bmean(x)

    def shown_mean(self, site: Site, x: mx.M) -> mx.M:
        return self.mean(site, x)  # mean_batch(x) reads as it is

    def local(self, site: Site) -> list[Step]:
        k, j, m = sp.symbols("k l m", integer=True, positive=True)
        _, _, _, sigma, xhat = self._temps(site)
        gamma = site.param("gamma")
        xk = naming.symbol(xhat, ("k",), f"{xhat}_k")
        xl = naming.symbol(xhat, ("l",), f"{xhat}_l")
        jac = naming.symbol(gamma.key) * (sp.KroneckerDelta(k, j) - 1 / m - xk * xl / m) / naming.symbol(sigma)
        steps = super().local(site)
        return [Step(steps[0].key, None, site.shape, "local", scalar=jac, kind="per unit: m×m, over the batch"),
                *steps[1:]]

    def vjp(self, site: Site, g: mx.M):
        """The closed form, shown as computed: the Jacobian is over the batch, not the layer's units."""
        (key, _, closed), *rest = super().vjp(site, g)
        return [(key, closed, None), *rest]

    def closed_form(self, site: Site) -> tuple[str, str]:
        text, _ = super().closed_form(site)
        ok = all(jacobian_form_holds(b) and closed_form_holds(b) for b in range(1, 4))
        proof = ("proven against the per-entry derivation by SymPy at batch sizes 1-3 here (1-5 in the tests): the "
                 "Jacobian shown is SymPy's and this form equals its transpose times the incoming gradient, as "
                 "for LayerNorm, over the batch" if ok else "NOT equal to the per-entry derivation")
        return text, proof


def running_updates(network) -> list:
    """``update(params, values, m) -> {rmean{l}: ..., rvar{l}: ...}`` for the batchnorm layers of ``network``:
    after each batch, running = (1 − 0.1)·running + 0.1·batch statistic (the variance's unbiased, m/(m − 1)), as
    ``torch.nn.BatchNorm1d``.  ``values`` are the batch's forward values (``mu{l}``, ``var{l}``); works on NumPy,
    JAX and PyTorch arrays alike."""
    layers = [number for number, layer in zip(network.numbers, network.layers)
              if getattr(layer, "norm", None) == "batchnorm"]

    def update(params, values, m):
        out = {}
        for number in layers:
            mean, var = (str(k) for k in running(number))
            mu, sq = str(naming.Key("mu", number)), str(naming.Key("var", number))  # the batch's, as LayerNorm names
            out[mean] = (1 - MOMENTUM) * params[mean] + MOMENTUM * values[mu]
            out[var] = (1 - MOMENTUM) * params[var] + MOMENTUM * values[sq] * (m / (m - 1))
        return out

    return update if layers else None


def running(layer: int) -> tuple[naming.Key, naming.Key]:
    """``(running_mean{l}, running_var{l})``: what a trained batchnorm predicts with."""
    return naming.Key("rmean", layer), naming.Key("rvar", layer)


class BatchNormEval(Layer):
    """Prediction mode: ``N = γ ⊙ (Z − running_mean)/√(running_var + ε) + β``, entry by entry."""

    kind = "batchnorm_eval"
    symbol = "N"
    name = "batchnorm_eval"

    def params(self, layer: int, n_in: int) -> tuple[Param, ...]:
        mean, var = running(layer)
        return (Param(naming.Key("gamma", layer), (n_in, 1), "ones"),
                Param(naming.Key("beta", layer), (n_in, 1), "zeros"),
                Param(mean, (n_in, 1), "zeros", state=True), Param(var, (n_in, 1), "ones", state=True))

    def _exprs(self):
        out = _c * (_z - _m) / sp.sqrt(_v + sp.Float(EPS)) + _b
        return out, (_z, _m, _v, _c, _b)

    def _args(self, site: Site):
        mean, var = running(site.layer)
        return (site.x(), mx.ref(mean, site.shape), mx.ref(var, site.shape), site.p("gamma"), site.p("beta"))

    def forward(self, site: Site) -> list[Step]:
        out, names = self._exprs()
        return [Step(site.out, mx.fn(mx.ScalarFn("batchnorm (running statistics)", out, names), *self._args(site)),
                     site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        """Each local derivative, elementwise, by SymPy."""
        out, names = self._exprs()
        mean, var = running(site.layer)
        keys = (site.ins[0], mean, var, site.param("gamma").key, site.param("beta").key)
        layer_symbols = {v: naming.symbol(k) for v, k in zip(names, keys)}
        steps = []
        for v, key in zip(names, keys):
            d = sp.diff(out, v)
            steps.append(Step(naming.local(site.out, key), mx.fn(mx.ScalarFn(f"d/d{key}", d, names),
                                                                   *self._args(site)),
                              site.shape, "local", scalar=d.xreplace(layer_symbols), kind="elementwise"))
        return steps

    def vjp(self, site: Site, g: mx.M):
        mean, var = running(site.layer)
        keys = (site.ins[0], mean, var, site.param("gamma").key, site.param("beta").key)
        return [(k, mx.had(g, mx.ref(naming.local(site.out, k), site.shape)), None) for k in keys]
