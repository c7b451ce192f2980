"""Three classic mistakes in a hand-written backprop of the textbook's 3-3-1 network, for `symbackprop check`:

    symbackprop check 3-3:relu-1:logistic examples/wrong_backprops.py:missing_sigmoid_derivative
    symbackprop check 3-3:relu-1:logistic examples/wrong_backprops.py:transposed_weight_gradient
    symbackprop check 3-3:relu-1:logistic examples/wrong_backprops.py:elementwise_for_matrix_product
"""

import numpy as np


def _forward(params, X):
    Z1 = params["W1"] @ X + params["B1"]
    A1 = np.maximum(Z1, 0)
    Z2 = params["W2"] @ A1 + params["B2"]
    return Z1, A1, Z2, 1 / (1 + np.exp(-Z2))


def missing_sigmoid_derivative(params, X, Y):
    Z1, A1, Z2, A2 = _forward(params, X)
    m = X.shape[1]
    dC_dZ2 = 2 * A2 - 2 * Y                       # forgot dA2_dZ2 = A2 * (1 - A2)
    dC_dZ1 = (params["W2"].T @ dC_dZ2) * (Z1 > 0)
    return {"W2": dC_dZ2 @ A1.T / m, "B2": dC_dZ2.sum(axis=1, keepdims=True) / m,
            "W1": dC_dZ1 @ X.T / m, "B1": dC_dZ1.sum(axis=1, keepdims=True) / m}


def transposed_weight_gradient(params, X, Y):
    Z1, A1, Z2, A2 = _forward(params, X)
    m = X.shape[1]
    dC_dZ2 = (2 * A2 - 2 * Y) * A2 * (1 - A2)
    dC_dZ1 = (params["W2"].T @ dC_dZ2) * (Z1 > 0)
    return {"W2": dC_dZ2 @ A1.T / m, "B2": dC_dZ2.sum(axis=1, keepdims=True) / m,
            "W1": (dC_dZ1 @ X.T / m).T,           # X @ dC_dZ1.T: the transpose of the right answer
            "B1": dC_dZ1.sum(axis=1, keepdims=True) / m}


def elementwise_for_matrix_product(params, X, Y):
    Z1, A1, Z2, A2 = _forward(params, X)
    m = X.shape[1]
    dC_dZ2 = (2 * A2 - 2 * Y) * A2 * (1 - A2)
    dC_dZ1 = (params["W2"].T * dC_dZ2) * (Z1 > 0)  # fine: W2.T is (3, 1), so this broadcasts correctly
    return {"W2": dC_dZ2 @ A1.T / m, "B2": dC_dZ2.sum(axis=1, keepdims=True) / m,
            "W1": (dC_dZ1 * X).sum(axis=1, keepdims=True).T / m,  # elementwise where dC_dZ1 · Xᵀ belongs
            "B1": dC_dZ1.sum(axis=1, keepdims=True) / m}
