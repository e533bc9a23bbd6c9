"""The README's monitor example (docs/monitor_example.py) runs and reports the exact certificate.

It is run with runpy exactly as a user would run the file; its globals give us the trained
model, the teacher and the final result, which we check against witness_theory.certify.
"""
from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import torch

import witness_theory as wt
from witness_theory.theorems import T8

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "monitor_example.py"


def test_readme_monitor_example(capsys):
    torch.set_num_threads(1)
    g = runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    result, monitor, model = g["result"], g["monitor"], g["model"]
    T = g["teacher"]
    witness = wt.Witness(T.shape[1], g["LATENT_DIM"], scale=4.0)

    # 1. The printed final line is the returned result, and one line was printed per epoch.
    assert f"final: {result.summary()}" in out.splitlines()
    assert sum(line.startswith("epoch ") for line in out.splitlines()) == g["EPOCHS"]

    # 2. Exact: the result is certify() on the codes the monitor holds, to the last bit.
    reference = wt.certify(T, monitor.codes(), witness)
    assert result.certificate == reference

    # 3. Those codes are the trained encoder's means. Recomputed here in one batch instead of
    #    the example's batches of 512, so float32 matmul rounding may differ by a few ulps
    #    (|mu| <~ 10, so <= ~1e-5 absolute); G_T is Lipschitz in mu with constant about
    #    beta sqrt(2 kappa) ~ 6, so 1e-4 on G_T leaves ample headroom.
    x = torch.from_numpy(g["X"])
    with torch.no_grad():
        mu = model.mean(model.body(x)).double().numpy()
    np.testing.assert_allclose(monitor.codes(), mu, rtol=0, atol=1e-5)
    independent = wt.certify(T, mu, witness)
    assert abs(independent.margin - result.G_T) < 1e-4
    assert independent.verdict == result.verdict
    # T8 holds on the trained encoder (the same ledger check the experiments use).
    assert T8.check(T, monitor.codes(), witness).holds
