"""A batch split over threads (backends/shares.py): the same step as the unsplit one, repeatable, and only where
samples do not meet."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from symbackprop import derive, parse_spec, train
from symbackprop.backends import numpy_module, numpy_steps, program_of, shares
from symbackprop.draws import random_problem

SEQUENCE = "6-embed7d6-pos6d6-res(layernorm+attn2)-res(layernorm+12:gelu_tanh+6:identity)-7:softmax"
CASES = [(SEQUENCE, "cross_entropy"), ("4-5:tanh-3:softmax", "cross_entropy"), ("3-4:relu-2:identity", "squared_error")]


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("spec,cost", CASES)
def test_a_split_step_is_the_unsplit_step(spec, cost, threads):
    network = derive(spec, cost).network
    params, X, Y = random_problem(network, np.random.default_rng(4), m=7)  # 7 samples: unequal shares
    if network.positions:  # padding: a position without a target leaves the mean
        Y[:, -1, :2] = 0
    module = numpy_module(network)
    whole, split = ({k: v.copy() for k, v in params.items()} for _ in range(2))
    stepper = shares.SplitSteps(module, threads)
    try:
        c_split = stepper.sgd_step(split, X, Y, 0.1)
        again = {k: v.copy() for k, v in params.items()}
        stepper.sgd_step(again, X, Y, 0.1)
    finally:
        stepper.close()
    c_whole = module.sgd_step(whole, X, Y, 0.1)
    assert c_split == pytest.approx(c_whole, rel=1e-12)
    for k in params:
        np.testing.assert_allclose(split[k], whole[k], rtol=1e-11, atol=1e-13, err_msg=k)
        np.testing.assert_array_equal(again[k], split[k])  # the shares add in order: a run repeats exactly


def test_gradient_sums_are_the_mean_times_the_count():
    network = derive(SEQUENCE, "cross_entropy").network
    params, X, Y = random_problem(network, np.random.default_rng(1), m=3)
    Y[:, 0, 1] = 0
    module = numpy_module(network)
    C, m, sums = module.gradient_sums(params, X, Y)
    cost, grads = module.gradients(params, X, Y)
    assert m == Y.sum() and C / m == pytest.approx(cost, rel=1e-12)
    for k, g in grads.items():
        np.testing.assert_allclose(sums[k] / m, g, rtol=1e-12, atol=1e-14)
    assert module.gradient_sums(params, X, Y, cost=False)[0] is None


def test_the_blas_threads_are_given_back_after_a_split_step():
    network = parse_spec("4-5:tanh-3:softmax").with_cost("cross_entropy")
    params, X, Y = random_problem(network, np.random.default_rng(0), m=4)
    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    stepper = shares.SplitSteps(numpy_module(network), 2)
    stepper.sgd_step(params, X, Y, 0.1)
    stepper.close()
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before


def test_which_batches_split(monkeypatch):
    monkeypatch.setattr(shares, "cores", lambda: 2)
    big = derive(SEQUENCE, "cross_entropy").network
    per = shares.values_per_sample(program_of(big))
    assert per > 0
    assert shares.threads_for(big, program_of(big), shares.MIN_VALUES // per + 1) == 2
    assert shares.threads_for(big, program_of(big), max(1, shares.MIN_VALUES // per - 1)) == 1  # too small
    assert shares.threads_for(big, program_of(big), 1, threads=4) == 1  # one sample: nothing to share
    assert shares.threads_for(big, program_of(big), 8, threads=3) == 3  # asked for: whatever the size
    monkeypatch.setattr(shares, "cores", lambda: 1)
    assert shares.threads_for(big, program_of(big), 10 ** 6) == 1
    for spec in ("4-5:batchnorm:relu-3:softmax", "4-5:relu:dropout=0.5-3:softmax"):  # samples meet: never split
        net = parse_spec(spec).with_cost("cross_entropy")
        assert not shares.splittable(net)
        assert shares.threads_for(net, program_of(net), 10 ** 6, threads=2) == 1
    assert isinstance(numpy_steps(big, 4, threads=1), type(numpy_module(big)))


def test_training_splits_large_batches_and_lands_where_one_thread_does(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    runs, real = [], shares.SplitSteps
    for min_values in (10 ** 12, 0):  # never split, then every batch
        monkeypatch.setattr(shares, "MIN_VALUES", min_values)
        monkeypatch.setattr(shares, "cores", lambda: 2)
        made = []
        monkeypatch.setattr(shares, "SplitSteps", lambda module, n, made=made: made.append(n) or real(module, n))
        model = train("4-6:tanh-2:softmax", X, y, epochs=5, batch_size=8, seed=0, progress=False)
        runs.append((model, made))
    (one, none_made), (split, made) = runs
    assert none_made == [] and made == [2]
    for k in one.params:
        np.testing.assert_allclose(split.params[k], one.params[k], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, options", [("adam", {}), ("adamw", {}), ("momentum", {}),
                                           ("adam", {"kind": "cosine", "clip_norm": 0.5, "warmup": 1})])
def test_an_optimizers_split_step_is_its_unsplit_step(name, options):
    """The shares' gradient sums into the flat buffer, then the generated optimizer_update: the same steps as the
    fused optimizer_step, three in a row (the state carried), a sequence with padding."""
    from symbackprop.optimizers import get_optimizer
    from symbackprop.optimizers import schedule as make_schedule
    from symbackprop.train import _OptimizerSteps

    network = derive(SEQUENCE, "cross_entropy").network
    params, X, Y = random_problem(network, np.random.default_rng(5), m=7)
    Y[:, -1, :3] = 0
    optimizer = get_optimizer(name)
    if options:
        optimizer = optimizer.with_schedule(make_schedule(total=10, steps_per_epoch=5, **options))
    whole, split = ({k: v.copy() for k, v in params.items()} for _ in range(2))
    one, two = _OptimizerSteps(network, optimizer, whole), _OptimizerSteps(network, optimizer, split)
    two.split = shares.SplitSteps(numpy_module(network), 3, two._update)
    try:
        for _ in range(3):
            assert two.sgd_step(split, X, Y, 0.01) == pytest.approx(one.sgd_step(whole, X, Y, 0.01), rel=1e-12)
    finally:
        two.close()
    assert two.state["t"] == one.state["t"] == 3
    # Adam divides by √v + ε: an entry whose gradient is rounding noise (1e-15 here, summed in another order) moves
    # by about lr·noise/ε, so the steps agree to 1e-8 where plain SGD's agree to 1e-11
    for k in params:
        np.testing.assert_allclose(split[k], whole[k], rtol=1e-8, atol=1e-8, err_msg=k)
    for k in ("all_m", "all_v"):
        if k in one.state:
            np.testing.assert_allclose(two.state[k], one.state[k], rtol=1e-10, atol=1e-14, err_msg=k)


def test_adam_training_splits_large_batches_too(monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 4))
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    runs = []
    for min_values in (10 ** 12, 0):
        monkeypatch.setattr(shares, "MIN_VALUES", min_values)
        monkeypatch.setattr(shares, "cores", lambda: 2)
        runs.append(train("4-6:tanh-2:softmax", X, y, epochs=4, batch_size=8, seed=0, progress=False,
                          optimizer="adam"))
    for k in runs[0].params:
        np.testing.assert_allclose(runs[1].params[k], runs[0].params[k], rtol=1e-8, atol=1e-8)
