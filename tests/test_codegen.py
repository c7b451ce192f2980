"""Generated code: NumPy and numba backends agree with the derivation; sources are readable and traceable."""

from __future__ import annotations

import linecache
import traceback

import numpy as np
import pytest
from networks import CORPUS, derived_gradients, draw, ids

from symbackprop import derive
from symbackprop.backends import loader


@pytest.mark.parametrize("spec,cost", CORPUS, ids=ids())
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_compiled_gradients_match_the_derivation(spec, cost, backend):
    d = derive(spec, cost)
    params, X, Y = draw(d.network, np.random.default_rng(11), m=5)
    want_cost, want = derived_gradients(d, params, X, Y)
    got_cost, got = d.compile(backend)(params, X, Y)
    assert got_cost == pytest.approx(want_cost, rel=1e-12)
    assert set(got) == set(want)
    for k in want:
        assert got[k].shape == want[k].shape
        np.testing.assert_allclose(got[k], want[k], rtol=1e-11, atol=1e-14)


def test_source_is_readable_and_names_each_equation():
    f = derive("3-3:relu-1:logistic").compile("numpy")
    assert "dC_dA1 = W2.T @ dC_dZ2" in f.source
    assert "# dC_dZ1 = dC_dA1 ⊙ dA1_dZ1" in f.source
    assert "dA2_dZ2 = A2*(1 - A2)" in f.source  # the output form, not exp(-Z2)/(1 + exp(-Z2))**2
    g = derive("3-3:relu-1:logistic").compile("numba")
    assert "@_jit" in g.source and "def sgd(" in g.source


def test_tracebacks_point_into_the_generated_code():
    f = derive("3-3:relu-1:logistic").compile("numpy")
    params = {k: np.ones(s) for k, s in f.shapes.items()}
    params["W2"] = np.ones((1, 4))  # a wrong shape
    with pytest.raises(ValueError) as info:
        f(params, np.ones((3, 2)), np.ones((1, 2)))
    frames = traceback.extract_tb(info.tb)
    generated = [fr for fr in frames if fr.filename.startswith("<symbackprop-generated")]
    assert generated and "A1" in generated[-1].line
    assert linecache.getline(generated[-1].filename, generated[-1].lineno).strip() == generated[-1].line


def test_per_sample_module_loads_from_the_disk_cache_it_wrote():
    from symbackprop.backends import per_sample_module

    net = derive("2-2:tanh-1:logistic").network
    first = per_sample_module(net)
    loader._MEMORY.clear()
    again = per_sample_module(net)
    assert again is not first and again.__file__ == first.__file__
    assert again.__name__ in __import__("sys").modules
    assert loader.cache_dir() in __import__("pathlib").Path(again.__file__).parents


def test_float32_backend_keeps_float32():
    d = derive("3-4:tanh-2:softmax", "cross_entropy")
    params, X, Y = draw(d.network, np.random.default_rng(0), m=4)
    cost, grads = d.compile("numpy", dtype="float32")(params, X, Y)
    assert all(g.dtype == np.float32 for g in grads.values())
    _, want = d.compile("numpy")(params, X, Y)
    for k in want:
        np.testing.assert_allclose(grads[k], want[k], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spec,cost", CORPUS[:12], ids=ids(CORPUS[:12]))
def test_deep_network_plan_of_kernels_equals_the_fused_loops(spec, cost, monkeypatch, request):
    """Deep networks run a plan of shared kernels over one buffer; forced here on small ones."""
    from symbackprop import backends
    from symbackprop.backends import numba_code, per_sample_module

    d = derive(spec, cost)
    backends._sources.cache_clear()  # sources are generated once per process: generate these anew
    request.addfinalizer(backends._sources.cache_clear)
    params, X, Y = draw(d.network, np.random.default_rng(2), m=5)
    want_cost, want = d.compile("numpy")(params, X, Y)
    monkeypatch.setattr(numba_code, "FUSE_LIMIT", 0)
    module = per_sample_module(d.network)
    assert "FORWARD_BACKWARD = np.array" in module.__source__
    got_cost, got = d.compile("numba")(params, X, Y)
    assert got_cost == pytest.approx(want_cost, rel=1e-12)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-11, atol=1e-14)
    arrays = [params[k].copy() for k in d.network.shapes()]
    order = np.arange(5).repeat(3)
    assert module.sgd(*arrays, X, Y, order, 0.01, 5, np.zeros(3)) == -1
    ref = {k: v.copy() for k, v in params.items()}
    for k in order:
        d.compile("numpy").module.sgd_step(ref, X[:, [k]], Y[:, [k]], 0.01)
    for name, arr in zip(d.network.shapes(), arrays):
        np.testing.assert_allclose(arr, ref[name], rtol=1e-11, atol=1e-14)
