"""A hand-written backprop for the textbook's 3-3-1 network (ReLU hidden layer, logistic output,
squared-error cost), in the conventions `symbackprop check` uses:

    params = {"W1": (3, 3), "B1": (3, 1), "W2": (1, 3), "B2": (1, 1)}
    X: (3, m) and Y: (1, m), samples as columns; the cost is the mean over the m samples.

    symbackprop check 3-3:relu-1:logistic examples/textbook_backprop.py:backprop
"""

import numpy as np


def backprop(params, X, Y):
    W1, B1, W2, B2 = params["W1"], params["B1"], params["W2"], params["B2"]
    m = X.shape[1]
    # forward
    Z1 = W1 @ X + B1              # (3, m)
    A1 = np.maximum(Z1, 0)        # (3, m)
    Z2 = W2 @ A1 + B2             # (1, m)
    A2 = 1 / (1 + np.exp(-Z2))    # (1, m)
    # backward, with the reference's local derivatives
    dC_dA2 = 2 * A2 - 2 * Y       # (1, m)
    dA2_dZ2 = A2 * (1 - A2)       # (1, m)
    dC_dZ2 = dC_dA2 * dA2_dZ2     # (1, m)
    dC_dW2 = dC_dZ2 @ A1.T / m    # (1, 3)
    dC_dB2 = dC_dZ2.sum(axis=1, keepdims=True) / m
    dC_dA1 = W2.T @ dC_dZ2        # (3, m)
    dA1_dZ1 = Z1 > 0              # (3, m)
    dC_dZ1 = dC_dA1 * dA1_dZ1     # (3, m)
    dC_dW1 = dC_dZ1 @ X.T / m     # (3, 3)
    dC_dB1 = dC_dZ1.sum(axis=1, keepdims=True) / m
    return {"W1": dC_dW1, "B1": dC_dB1, "W2": dC_dW2, "B2": dC_dB2}
