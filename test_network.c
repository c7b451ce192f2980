/* test_network.c: golden vectors computed by symbackprop; exits 1 on a mismatch. */
#include <math.h>
#include <stdio.h>
#include "network.h"

static int check(const char *what, int sample, double got, double want) {
    double tol = 1e-4 * (fabs(want) > 1 ? fabs(want) : 1);
    if (fabs(got - want) <= tol) return 0;
    printf("MISMATCH %s (sample %d): got %.17g, want %.17g\n", what, sample, got, want);
    return 1;
}

int main(void) {
    static const network_params p = {
    .W1 = {{0.1257302210933933f, -0.1321048632913019f, 0.6404226504432821f}, {0.10490011715303971f, -0.535669373161111f, 0.36159505490948474f}, {1.3040000451301372f, 0.9470809631292422f, -0.7037352358069926f}},
    .B1 = {{-1.2654214710460525f}, {-0.6232744625373522f}, {0.0413259793472436f}},
    .W2 = {{-2.3250307746388343f, -0.21879166393254573f, -1.2459109472530652f}},
    .B2 = {{-0.7322673547034516f}}
    };
    static const network_real X[4][3] = {{-0.5442589828573099f, -0.12853466294403426f, 0.9034701816518086f}, {-0.31630015636915454f, 1.3664634705496859f, 0.09401229776087457f}, {0.4116305363741328f, -0.6651946734866135f, -0.7434992493538084f}, {1.0425133694426776f, 0.3515100700930197f, -0.9217253762584194f}};
    static const network_real Y[4][1] = {{-0.45772582566733916f}, {0.2201951234700494f}, {-1.009618183538736f}, {-0.20917557487171307f}};
    static const network_real OUT[4][1] = {{0.32469736937367094f}, {0.1418703579748635f}, {0.21090197335761865f}, {0.024116919462983843f}};
    static const network_real COST[1][4] = {{0.6121860561381826f, 0.006134768889875865f, 1.489669453390302f, 0.054425387912904584f}};
    static network_params g[4];
    int bad = 0;
    for (int k = 0; k < 4; ++k) {
        network_real out[1];
        network_forward(&p, X[k], out);
        for (int i = 0; i < 1; ++i) bad += check("output", k, out[i], OUT[k][i]);
        bad += check("cost", k, network_backward(&p, X[k], Y[k], &g[k]), COST[0][k]);
    }
    { static const network_real want[3][3] = {{0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f}};
      for (int i0 = 0; i0 < 3; ++i0) for (int i1 = 0; i1 < 3; ++i1) bad += check("dW1", 0, g[0].W1[i0][i1], want[i0][i1]); }
    { static const network_real want[3][1] = {{0.0f}, {0.0f}, {0.0f}};
      for (int i0 = 0; i0 < 3; ++i0) for (int i1 = 0; i1 < 1; ++i1) bad += check("dB1", 0, g[0].B1[i0][i1], want[i0][i1]); }
    { static const network_real want[1][3] = {{0.0f, 0.0f, 0.0f}};
      for (int i0 = 0; i0 < 1; ++i0) for (int i1 = 0; i1 < 3; ++i1) bad += check("dW2", 0, g[0].W2[i0][i1], want[i0][i1]); }
    { static const network_real want[1][1] = {{0.3431222838522246f}};
      for (int i0 = 0; i0 < 1; ++i0) for (int i1 = 0; i1 < 1; ++i1) bad += check("dB2", 0, g[0].B2[i0][i1], want[i0][i1]); }
    { static const network_real want[3][3] = {{0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f}, {-0.007515538013741358f, 0.032468236105831424f, 0.002233805400830738f}};
      for (int i0 = 0; i0 < 3; ++i0) for (int i1 = 0; i1 < 3; ++i1) bad += check("dW1", 1, g[1].W1[i0][i1], want[i0][i1]); }
    { static const network_real want[3][1] = {{0.0f}, {0.0f}, {0.023760778685704975f}};
      for (int i0 = 0; i0 < 3; ++i0) for (int i1 = 0; i1 < 1; ++i1) bad += check("dB1", 1, g[1].B1[i0][i1], want[i0][i1]); }
    { static const network_real want[1][3] = {{0.0f, 0.0f, -0.01634122915185076f}};
      for (int i0 = 0; i0 < 1; ++i0) for (int i1 = 0; i1 < 3; ++i1) bad += check("dW2", 1, g[1].W2[i0][i1], want[i0][i1]); }
    { static const network_real want[1][1] = {{-0.019071008837422767f}};
      for (int i0 = 0; i0 < 1; ++i0) for (int i1 = 0; i1 < 1; ++i1) bad += check("dB2", 1, g[1].B2[i0][i1], want[i0][i1]); }
    { static const network_real want[3][3] = {{0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f}, {-0.2083440677996208f, 0.336683875238248f, 0.37631721732992235f}};
      for (int i0 = 0; i0 < 3; ++i0) for (int i1 = 0; i1 < 3; ++i1) bad += check("dW1", 2, g[2].W1[i0][i1], want[i0][i1]); }
    { static const network_real want[3][1] = {{0.0f}, {0.0f}, {-0.5061433722454837f}};
      for (int i0 = 0; i0 < 3; ++i0) for (int i1 = 0; i1 < 1; ++i1) bad += check("dB1", 2, g[2].B1[i0][i1], want[i0][i1]); }
    { static const network_real want[1][3] = {{0.0f, 0.0f, 0.191473027612933f}};
      for (int i0 = 0; i0 < 1; ++i0) for (int i1 = 0; i1 < 3; ++i1) bad += check("dW2", 2, g[2].W2[i0][i1], want[i0][i1]); }
    { static const network_real want[1][1] = {{0.4062436190655588f}};
      for (int i0 = 0; i0 < 1; ++i0) for (int i1 = 0; i1 < 1; ++i1) bad += check("dB2", 2, g[2].B2[i0][i1], want[i0][i1]); }
    { static const network_real want[3][3] = {{0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f}, {-0.014263267220327891f, -0.004809225672619639f, 0.012610692323647922f}};
      for (int i0 = 0; i0 < 3; ++i0) for (int i1 = 0; i1 < 3; ++i1) bad += check("dW1", 3, g[3].W1[i0][i1], want[i0][i1]); }
    { static const network_real want[3][1] = {{0.0f}, {0.0f}, {-0.01368161564004974f}};
      for (int i0 = 0; i0 < 3; ++i0) for (int i1 = 0; i1 < 1; ++i1) bad += check("dB1", 3, g[3].B1[i0][i1], want[i0][i1]); }
    { static const network_real want[1][3] = {{0.0f, 0.0f, 0.02616079580507153f}};
      for (int i0 = 0; i0 < 1; ++i0) for (int i1 = 0; i1 < 3; ++i1) bad += check("dW2", 3, g[3].W2[i0][i1], want[i0][i1]); }
    { static const network_real want[1][1] = {{0.010981214725028639f}};
      for (int i0 = 0; i0 < 1; ++i0) for (int i1 = 0; i1 < 1; ++i1) bad += check("dB2", 3, g[3].B2[i0][i1], want[i0][i1]); }
    printf("%s: %d mismatches in %d samples\n", bad ? "FAIL" : "OK", bad, 4);
    return bad ? 1 : 0;
}
