"""GELU's forward and backward passes as llm.c's gelu_forward/gelu_backward compute them (GPT-2's tanh
approximation), in NumPy, as people write them by hand; and the exact GELU with erf."""

import math

import numpy as np

GELU_SCALING_FACTOR = math.sqrt(2.0 / math.pi)


def gelu_tanh_forward(x):
    cube = 0.044715 * x * x * x
    out = 0.5 * x * (1.0 + np.tanh(GELU_SCALING_FACTOR * (x + cube)))
    return out, x


def gelu_tanh_backward(dout, cache):
    x = cache
    cube = 0.044715 * x * x * x
    tanh_arg = GELU_SCALING_FACTOR * (x + cube)
    tanh_out = np.tanh(tanh_arg)
    sech_out = 1.0 / (np.cosh(tanh_arg) ** 2)
    local_grad = 0.5 * (1.0 + tanh_out) + x * 0.5 * sech_out * GELU_SCALING_FACTOR * (1.0 + 3.0 * 0.044715 * x * x)
    return local_grad * dout


def gelu_tanh_backward_without_the_cube(dout, cache):
    """The slip: tanh's argument differentiated as √(2/π)·x, its cube's 3·0.044715·x² left out."""
    x = cache
    tanh_arg = GELU_SCALING_FACTOR * (x + 0.044715 * x ** 3)
    local_grad = 0.5 * (1.0 + np.tanh(tanh_arg)) + x * 0.5 / np.cosh(tanh_arg) ** 2 * GELU_SCALING_FACTOR
    return local_grad * dout


def gelu_forward(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0))), x


def gelu_backward(dout, cache):
    x = cache
    erf = np.vectorize(math.erf)
    return dout * (0.5 * (1.0 + erf(x / math.sqrt(2.0))) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi))
