"""A fully-connected net of any depth as a course's second assignment has it: hidden_dims, reg and dtype given to
__init__, weights in self.params, loss(X, y) returning (loss, grads), L2 as 0.5 * reg * sum(W ** 2)."""

import numpy as np


class FullyConnectedNet(object):
    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None):
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params = {}
        dims = [input_dim] + list(hidden_dims) + [num_classes]
        for i in range(self.num_layers):
            self.params['W%d' % (i + 1)] = weight_scale * np.random.randn(dims[i], dims[i + 1])
            self.params['b%d' % (i + 1)] = np.zeros(dims[i + 1])
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        X = X.astype(self.dtype)
        caches = []
        out = X
        for i in range(1, self.num_layers):
            W, b = self.params['W%d' % i], self.params['b%d' % i]
            z = out.dot(W) + b
            caches.append((out, z))
            out = np.maximum(0, z)
        W, b = self.params['W%d' % self.num_layers], self.params['b%d' % self.num_layers]
        scores = out.dot(W) + b
        caches.append((out, None))
        if y is None:
            return scores

        N = X.shape[0]
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[np.arange(N), y].sum() / N
        dout = np.exp(log_probs)
        dout[np.arange(N), y] -= 1
        dout /= N
        grads = {}
        for i in range(self.num_layers, 0, -1):
            W = self.params['W%d' % i]
            loss += 0.5 * self.reg * np.sum(W * W)
            x, z = caches[i - 1]
            if z is not None:
                dout = dout * (z > 0)
            grads['W%d' % i] = x.T.dot(dout) + self.reg * W
            grads['b%d' % i] = dout.sum(axis=0)
            dout = dout.dot(W.T)
        return loss, grads


class SummedFullyConnectedNet(FullyConnectedNet):
    """dout not divided by N: every gradient a sum over the batch while the loss is a mean."""

    def loss(self, X, y=None):
        caches = []
        out = X
        for i in range(1, self.num_layers):
            W, b = self.params['W%d' % i], self.params['b%d' % i]
            z = out.dot(W) + b
            caches.append((out, z))
            out = np.maximum(0, z)
        W, b = self.params['W%d' % self.num_layers], self.params['b%d' % self.num_layers]
        scores = out.dot(W) + b
        caches.append((out, None))
        N = X.shape[0]
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[np.arange(N), y].sum() / N
        dout = np.exp(log_probs)
        dout[np.arange(N), y] -= 1
        grads = {}
        for i in range(self.num_layers, 0, -1):
            W = self.params['W%d' % i]
            x, z = caches[i - 1]
            if z is not None:
                dout = dout * (z > 0)
            grads['W%d' % i] = x.T.dot(dout)
            grads['b%d' % i] = dout.sum(axis=0)
            dout = dout.dot(W.T)
        return loss, grads
