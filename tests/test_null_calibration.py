"""The null calibration of the certified-information verdicts (T13) end to end, small: codes that
carry no teacher information (constant, constant + noise, permuted real codes) with the digits
teacher and K = 2, 3 teachers, every predictor, mean and sampled codes, are never certified.

The full version (200 draws per case) is bench/null_calibration.py, recorded in
results/null-calibration/. The bound is distribution-free (docs/theory.md, T13), so its false
certificate rate is at most delta; the coverage test that draws the null often enough to measure
that rate (hundreds of draws, no fitting) is proofs/test_t13_information.py."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from null_calibration import main  # noqa: E402


def test_null_codes_are_not_certified(capsys):
    assert main(["--draws", "2", "--fit-rows", "200", "--permutations", "19"]) == 0
    out = capsys.readouterr().out
    assert "worst certified rate 0.000" in out
    assert out.count("certified {") == 15      # 3 teachers x 5 kinds of null codes
