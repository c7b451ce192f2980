/* network.c: 3-3:relu-1:logistic with cost squared_error, by symbackprop 0.1.0. Do not edit. */
#include <math.h>
#include "network.h"

static inline network_real sbp_logistic(network_real z) {
    if (z >= 0) return 1 / (1 + expf(-z));
    network_real e = expf(z);
    return e / (1 + e);
}

void network_forward(const network_params *p, const network_real x[3], network_real out[1]) {
    /* Z1 = W1 · X + B1 */
    network_real Z1[3][1];
    for (int i = 0; i < 3; ++i) {
        network_real acc0 = 0.0f;
        for (int k0 = 0; k0 < 3; ++k0) {
            acc0 += p->W1[i][k0] * x[(k0) * 1];
        }
        Z1[i][0] = (acc0 + p->B1[i][0]);
    }
    /* A1 = relu(Z1) */
    network_real A1[3][1];
    for (int i = 0; i < 3; ++i) {
        A1[i][0] = (fmaxf(0, Z1[i][0]));
    }
    /* Z2 = W2 · A1 + B2 */
    network_real Z2[1][1];
    network_real acc1 = 0.0f;
    for (int k1 = 0; k1 < 3; ++k1) {
        acc1 += p->W2[0][k1] * A1[k1][0];
    }
    Z2[0][0] = (acc1 + p->B2[0][0]);
    /* A2 = logistic(Z2) */
    network_real A2[1][1];
    A2[0][0] = (sbp_logistic(Z2[0][0]));
    out[0] = A2[0][0];
}

network_real network_backward(const network_params *p, const network_real x[3],
    const network_real y[1], network_params *g) {
    /* Z1 = W1 · X + B1 */
    network_real Z1[3][1];
    for (int i = 0; i < 3; ++i) {
        network_real acc0 = 0.0f;
        for (int k0 = 0; k0 < 3; ++k0) {
            acc0 += p->W1[i][k0] * x[(k0) * 1];
        }
        Z1[i][0] = (acc0 + p->B1[i][0]);
    }
    /* A1 = relu(Z1) */
    network_real A1[3][1];
    for (int i = 0; i < 3; ++i) {
        A1[i][0] = (fmaxf(0, Z1[i][0]));
    }
    /* Z2 = W2 · A1 + B2 */
    network_real Z2[1][1];
    network_real acc1 = 0.0f;
    for (int k1 = 0; k1 < 3; ++k1) {
        acc1 += p->W2[0][k1] * A1[k1][0];
    }
    Z2[0][0] = (acc1 + p->B2[0][0]);
    /* A2 = logistic(Z2) */
    network_real A2[1][1];
    A2[0][0] = (sbp_logistic(Z2[0][0]));
    /* C = Σ(squared_error(A2, Y)) */
    network_real C[1][1];
    C[0][0] = (powf(A2[0][0] - y[0], 2));
    /* dC_dA2 = dC_dA2(A2, Y) */
    network_real dC_dA2[1][1];
    dC_dA2[0][0] = (2*A2[0][0] - 2*y[0]);
    /* dA2_dZ2 = dA2_dZ2(A2) */
    network_real dA2_dZ2[1][1];
    dA2_dZ2[0][0] = (A2[0][0]*(1 - A2[0][0]));
    /* dA1_dZ1 = dA1_dZ1(Z1) */
    network_real dA1_dZ1[3][1];
    for (int i = 0; i < 3; ++i) {
        dA1_dZ1[i][0] = ((Z1[i][0] > 0));
    }
    /* dC_dZ2 = dC_dA2 ⊙ dA2_dZ2 */
    network_real dC_dZ2[1][1];
    dC_dZ2[0][0] = (dC_dA2[0][0] * dA2_dZ2[0][0]);
    /* dC_dW2 = dC_dZ2 · A1ᵀ */
    for (int j = 0; j < 3; ++j) {
        g->W2[0][j] = (dC_dZ2[0][0] * A1[j][0]);
    }
    /* dC_dB2 = dC_dZ2 */
    g->B2[0][0] = dC_dZ2[0][0];
    /* dC_dA1 = W2ᵀ · dC_dZ2 */
    network_real dC_dA1[3][1];
    for (int i = 0; i < 3; ++i) {
        dC_dA1[i][0] = (p->W2[0][i] * dC_dZ2[0][0]);
    }
    /* dC_dZ1 = dC_dA1 ⊙ dA1_dZ1 */
    network_real dC_dZ1[3][1];
    for (int i = 0; i < 3; ++i) {
        dC_dZ1[i][0] = (dC_dA1[i][0] * dA1_dZ1[i][0]);
    }
    /* dC_dW1 = dC_dZ1 · Xᵀ */
    for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) {
            g->W1[i][j] = (dC_dZ1[i][0] * x[(j) * 1]);
        }
    }
    /* dC_dB1 = dC_dZ1 */
    for (int i = 0; i < 3; ++i) {
        g->B1[i][0] = dC_dZ1[i][0];
    }

    return C[0][0];
}

network_real network_sgd_step(network_params *p, const network_real x[3],
    const network_real y[1], network_real lr) {
    network_params g;
    network_real cost = network_backward(p, x, y, &g);
    for (int i0 = 0; i0 < 3; ++i0) for (int i1 = 0; i1 < 3; ++i1) p->W1[i0][i1] -= lr * g.W1[i0][i1];
    for (int i0 = 0; i0 < 3; ++i0) for (int i1 = 0; i1 < 1; ++i1) p->B1[i0][i1] -= lr * g.B1[i0][i1];
    for (int i0 = 0; i0 < 1; ++i0) for (int i1 = 0; i1 < 3; ++i1) p->W2[i0][i1] -= lr * g.W2[i0][i1];
    for (int i0 = 0; i0 < 1; ++i0) for (int i1 = 0; i1 < 1; ++i1) p->B2[i0][i1] -= lr * g.B2[i0][i1];
    return cost;
}

network_real network_optimizer_step(network_params *p, network_state *s, const network_real x[3],
    const network_real y[1], network_real lr) {
    network_params g;
    network_real cost = network_backward(p, x, y, &g);
    long t = ++s->t;
    network_real _c1 = 1.0e-8F*sqrtf(1 - powf(0.999F, t));
    network_real _c2 = -lr*sqrtf(1 - powf(0.999F, t))/(1 - powf(0.9F, t));
    /* W1: adam's rule */
    for (int i0 = 0; i0 < 3; ++i0) for (int i1 = 0; i1 < 3; ++i1) { s->m.W1[i0][i1] = 0.1F*g.W1[i0][i1] + 0.9F*s->m.W1[i0][i1]; s->v.W1[i0][i1] = 0.001F*powf(g.W1[i0][i1], 2) + 0.999F*s->v.W1[i0][i1]; p->W1[i0][i1] = _c2*s->m.W1[i0][i1]/(_c1 + sqrtf(s->v.W1[i0][i1])) + p->W1[i0][i1]; }
    /* B1: adam's rule */
    for (int i0 = 0; i0 < 3; ++i0) for (int i1 = 0; i1 < 1; ++i1) { s->m.B1[i0][i1] = 0.1F*g.B1[i0][i1] + 0.9F*s->m.B1[i0][i1]; s->v.B1[i0][i1] = 0.001F*powf(g.B1[i0][i1], 2) + 0.999F*s->v.B1[i0][i1]; p->B1[i0][i1] = _c2*s->m.B1[i0][i1]/(_c1 + sqrtf(s->v.B1[i0][i1])) + p->B1[i0][i1]; }
    /* W2: adam's rule */
    for (int i0 = 0; i0 < 1; ++i0) for (int i1 = 0; i1 < 3; ++i1) { s->m.W2[i0][i1] = 0.1F*g.W2[i0][i1] + 0.9F*s->m.W2[i0][i1]; s->v.W2[i0][i1] = 0.001F*powf(g.W2[i0][i1], 2) + 0.999F*s->v.W2[i0][i1]; p->W2[i0][i1] = _c2*s->m.W2[i0][i1]/(_c1 + sqrtf(s->v.W2[i0][i1])) + p->W2[i0][i1]; }
    /* B2: adam's rule */
    for (int i0 = 0; i0 < 1; ++i0) for (int i1 = 0; i1 < 1; ++i1) { s->m.B2[i0][i1] = 0.1F*g.B2[i0][i1] + 0.9F*s->m.B2[i0][i1]; s->v.B2[i0][i1] = 0.001F*powf(g.B2[i0][i1], 2) + 0.999F*s->v.B2[i0][i1]; p->B2[i0][i1] = _c2*s->m.B2[i0][i1]/(_c1 + sqrtf(s->v.B2[i0][i1])) + p->B2[i0][i1]; }
    return cost;
}

void network_predict(const network_params *p, const network_real features[3], network_real out[1]) {
    network_real x[3];
    for (int i = 0; i < 3; ++i) x[i] = features[i];
    network_forward(p, x, out);
}
