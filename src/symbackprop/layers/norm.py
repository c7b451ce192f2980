"""Layer normalisation over a layer's features, as ``torch.nn.LayerNorm``: ``N = γ ⊙ (Z − μ)/σ + β``.

μ and σ² are the mean and the biased variance of the sample's own features (σ = √(σ² + ε), ε = 1e-5); γ and β are
learnable, (n, 1), initialised to 1 and 0.  The local derivative is the Jacobian
``dN_dZ = γ_i (δ_ij − 1/n − X̂_i X̂_j / n) / σ``; the VJP is the closed form people look for,
``dC_dZ = (G − mean(G) − X̂ ⊙ mean(G ⊙ X̂)) / σ`` with ``G = γ ⊙ dC_dN``, which SymPy proves equal to the Jacobian's
transpose times dC_dN entry by entry (:func:`closed_form_holds`).
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..program import Param, Step
from .base import Layer, Site

EPS = 1e-5
PROVEN_UP_TO = 5  # widths at which derive proves the closed form itself (a few seconds at most)
_z, _m, _v, _s, _c, _x, _b, _q, _a, _w = sp.symbols("z m v s c x b q a w", real=True)


@cache
def jacobian_form_holds(n: int) -> bool:
    """SymPy: the Jacobian of ``γ ⊙ (Z − μ)/σ`` on ``n`` symbolic entries is ``γ_i (δ_ij − 1/n − X̂_i X̂_j / n) / σ``,
    the per-entry form the layer shows."""
    z = sp.symbols(f"z0:{n}", real=True)
    gamma = sp.symbols(f"c0:{n}", real=True)
    mu = sum(z) / n
    sigma = sp.sqrt(sum((v - mu) ** 2 for v in z) / n + sp.Rational(1, 100_000))
    xhat = [(v - mu) / sigma for v in z]
    return all(sp.simplify(sp.diff(gamma[i] * xhat[i], z[j])
                           - gamma[i] * (int(i == j) - sp.Rational(1, n) - xhat[i] * xhat[j] / n) / sigma) == 0
               for i in range(n) for j in range(n))


@cache
def closed_form_holds(n: int) -> bool:
    """SymPy: on ``n`` symbolic features, the transpose of the Jacobian of ``γ ⊙ (Z − μ)/σ`` times any ``g``
    equals ``(G − mean(G) − X̂ ⊙ mean(G ⊙ X̂)) / σ`` with ``G = γ ⊙ g``, entry by entry."""
    z = sp.symbols(f"z0:{n}", real=True)
    g = sp.symbols(f"g0:{n}", real=True)
    gamma = sp.symbols(f"c0:{n}", real=True)
    mu = sum(z) / n
    sigma = sp.sqrt(sum((v - mu) ** 2 for v in z) / n + sp.Rational(1, 100_000))
    xhat = [(v - mu) / sigma for v in z]
    out = [gamma[i] * xhat[i] for i in range(n)]  # β adds a constant: no part of the Jacobian
    G = [gamma[i] * g[i] for i in range(n)]
    mean_g, mean_gx = sum(G) / n, sum(G[i] * xhat[i] for i in range(n)) / n
    for j in range(n):
        vjp = sum(sp.diff(out[i], z[j]) * g[i] for i in range(n))
        if sp.simplify(vjp - (G[j] - mean_g - xhat[j] * mean_gx) / sigma) != 0:
            return False
    return True


class LayerNorm(Layer):
    """``N = γ ⊙ X̂ + β`` with ``X̂ = (Z − μ)/σ`` over the sample's features (``torch.nn.LayerNorm``)."""

    kind = "layernorm"
    symbol = "N"
    name = "layernorm"

    def params(self, layer: int, n_in: int) -> tuple[Param, ...]:
        return (Param(naming.Key("gamma", layer), (n_in, 1), "ones"),
                Param(naming.Key("beta", layer), (n_in, 1), "zeros"))

    @staticmethod
    def _temps(site: Site):
        layer = site.layer
        return (naming.Key("mu", layer), naming.Key("sq", layer), naming.Key("var", layer),
                naming.Key("sigma", layer), naming.Key("Xhat", layer))

    over = "the layer's features"

    def stat_shape(self, site: Site) -> tuple[int, int]:
        """The shape of μ, σ², σ: one number per sample (over its features), or per position of a sequence."""
        return (1, site.shape[-1])

    def mean(self, site: Site, x: mx.M) -> mx.M:
        """The mean the statistics are taken over: of the sample's features."""
        return mx.fn(mx.ScalarFn("mean", _s / site.shape[0], (_s,)), mx.colsum(x))

    def shown_mean(self, site: Site, x: mx.M) -> mx.M:
        """``mean(x)`` as displayed (computed as ``Σ(x) / n``, which would read as the mean of a sum)."""
        return mx.fn(mx.ScalarFn("mean", _s, (_s,)), x)

    def forward(self, site: Site) -> list[Step]:
        mu, sq, var, sigma, xhat = self._temps(site)
        one, col = self.stat_shape(site), site.shape
        r = {k: mx.ref(k, one if k in (mu, var, sigma) else col) for k in (mu, sq, var, sigma, xhat)}
        return [
            Step(mu, self.mean(site, site.x()), one, "forward", shown=self.shown_mean(site, site.x())),
            Step(sq, mx.fn(mx.ScalarFn("squared deviation", (_z - _m) ** 2, (_z, _m)), site.x(), r[mu]), col,
                 "forward"),
            Step(var, self.mean(site, r[sq]), one, "forward", shown=self.shown_mean(site, r[sq])),
            Step(sigma, mx.fn(mx.ScalarFn("sqrt", sp.sqrt(_v + sp.Float(EPS)), (_v,)), r[var]), one, "forward"),
            Step(xhat, mx.fn(mx.ScalarFn("normalise", (_z - _m) / _s, (_z, _m, _s)), site.x(), r[mu], r[sigma]),
                 col, "forward"),
            Step(site.out, mx.add(mx.had(site.p("gamma"), r[xhat]), site.p("beta")), col, "forward"),
        ]

    def local(self, site: Site) -> list[Step]:
        """The Jacobian by SymPy's per-entry form, and each parameter's local derivative."""
        n = site.shape[0]
        i, j = sp.symbols("i j", integer=True)
        _, _, _, sigma, xhat = self._temps(site)
        gamma, beta = site.param("gamma"), site.param("beta")
        gi = naming.symbol(gamma.key, ("i",), f"{gamma.key}_i")
        xi = naming.symbol(xhat, ("i",), f"{xhat}_i")
        xj = naming.symbol(xhat, ("j",), f"{xhat}_j")
        jac = gi * (sp.KroneckerDelta(i, j) - sp.Rational(1, n) - xi * xj / n) / naming.symbol(sigma)
        return [
            Step(naming.local(site.out, site.ins[0]), None, (n, n), "local", scalar=jac, kind="jacobian"),
            Step(naming.local(site.out, gamma.key), mx.ref(xhat, site.shape), site.shape, "local",
                 scalar=naming.symbol(xhat), kind="elementwise"),
            Step(naming.local(site.out, beta.key), mx.ones(site.shape), site.shape, "local", scalar=sp.Integer(1),
                 kind="ones"),
        ]

    def vjp(self, site: Site, g: mx.M):
        n = site.shape[0]
        _, _, _, sigma, xhat = self._temps(site)
        xh, sg = mx.ref(xhat, site.shape), mx.ref(sigma, self.stat_shape(site))
        gamma = site.p("gamma")
        G = mx.had(gamma, g)
        closed = mx.fn(mx.ScalarFn("closed form", (_q - _a - _x * _b) / _w, (_q, _a, _x, _b, _w)), G,
                       self.mean(site, G), xh, self.mean(site, mx.had(G, xh)), sg)
        jac = mx.ref(naming.local(site.out, site.ins[0]), (n, n))
        return [(site.ins[0], mx.dot(mx.T(jac), g), closed),
                (site.param("gamma").key, mx.had(g, xh), None),
                (site.param("beta").key, g, None)]

    def closed_form(self, site: Site) -> tuple[str, str]:
        """The closed matrix form of the VJP in words, and whether SymPy proved it at this width."""
        n = site.shape[0]
        _, _, _, sigma, xhat = self._temps(site)
        gamma, g, dz = site.param("gamma").key, naming.grad(site.out), naming.grad(site.ins[0])
        text = (f"{dz} = (G − mean(G) − {xhat} ⊙ mean(G ⊙ {xhat})) / {sigma},  G = {gamma} ⊙ {g}"
                f"  (means over {self.over})")
        if n <= PROVEN_UP_TO:
            proof = (f"proven against the per-entry derivation by SymPy at this width ({n}): the Jacobian shown is "
                     "SymPy's, and this form equals its transpose times the incoming gradient"
                     if jacobian_form_holds(n) and closed_form_holds(n) else "NOT equal to the per-entry derivation")
        else:
            proof = (f"proven against the per-entry derivation by SymPy at widths 1-{PROVEN_UP_TO}; at this width "
                     f"({n}) " + ("it matches central differences of the forward pass (relative error < 1e-6)"
                                  if closed_form_matches_differences(n) else "it does NOT match central differences"))
        return text, proof


@cache
def closed_form_matches_differences(n: int, seed: int = 0) -> bool:
    """Numerically, at a random point of width ``n``: the closed-form VJP against central differences of
    ``Σ g ⊙ N(Z)`` (for widths too large to prove symbolically in a moment)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    z, g, gamma = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)

    def forward(v):
        xh = (v - v.mean()) / np.sqrt(v.var() + EPS)
        return float(np.sum(g * gamma * xh))

    sigma = np.sqrt(z.var() + EPS)
    xh = (z - z.mean()) / sigma
    G = gamma * g
    closed = (G - G.mean() - xh * np.mean(G * xh)) / sigma
    h = 1e-6
    numeric = np.array([(forward(z + h * e) - forward(z - h * e)) / (2 * h) for e in np.eye(n)])
    return bool(np.allclose(numeric, closed, rtol=1e-6, atol=1e-8))
