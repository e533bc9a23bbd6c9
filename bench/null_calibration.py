"""Null calibration of the certified-information verdicts (T13): codes that carry no teacher information.

For each teacher (the package's digits teacher, and GMM teachers with K = 2 and K = 3 on the same
PCA view) and each kind of null code, draws ``--draws`` independent instances, fits the fitted
witness and the probe on a fit split (training rows), and certifies the test rows with the raw
witness, the fitted witness and the probe, on the codes (mean certificate) and on M sampled codes
z ~ N(code, I) (posterior certificate), and counts the certified active units on the sampled codes
(Holm at delta over the d units). Counts how often the 1 - delta verdict is "certified" (LCB > 0;
for the units: any unit certified, the family-wise error) and how often the permutation p-value is
<= delta (for the units: any unit's unadjusted p-value, which is no permutation test). Null codes (none depends on x):
constant; constant + N(0, s^2) noise for s in 1e-6, 1e-3, 1; real codes (PCA-16 of the images)
permuted across rows. Each draw redraws the noise / the permutation and the fit rows.

    python bench/null_calibration.py --draws 200 --out results/null-calibration
    python bench/null_calibration.py --draws 20 --fit-rows 300   # the quick version (tests/test_null_calibration.py)
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

import witness_theory as wt
from empirical.training.evaluation import POSTERIOR_PROBE_TOL, POSTERIOR_REFIT_STEPS, PROBE_TOL

NULLS = ("constant", "noise-1e-06", "noise-0.001", "noise-1", "permuted")
PREDICTORS = ("raw", "fitted", "probe", "post_fitted", "post_probe")
# certified active units on the sampled codes, as the evaluation counts them: "certified" is the
# family-wise error event (any unit certified; no unit of a null code carries information), its
# "permutation" column the same event for the units' Holm-adjusted p-values, which have no
# permutation test: the count of draws with a unit at p <= delta before Holm (an uncorrected rate);
# its "margin>0" count: draws with some unit's LCB at delta/d > 0 (no plug-in margin is formed per unit)
UNITS = "certified_au"


def teachers(seed: int = 0) -> dict:
    """{name: (T_train, T_test, pca_train, pca_test)} on scikit-learn's digits (the embedded default data)."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    from empirical.configure import resolve
    from empirical.training.experiment import prepare

    exp = prepare(resolve("digits", "vanilla", overrides={"train.device": "cpu"}))
    x = load_digits().data / 16.0
    n_train = exp.x_train.shape[0]
    xtr = exp.x_train.reshape(n_train, -1).double().numpy()
    xte = exp.x_test.reshape(exp.x_test.shape[0], -1).double().numpy()
    pca = PCA(16, random_state=seed).fit(xtr)
    ztr, zte = pca.transform(xtr), pca.transform(xte)
    out = {f"digits-K{exp.teacher_np('train').shape[1]}": (exp.teacher_np("train"), exp.teacher_np("test"), ztr, zte)}
    for K in (2, 3):
        gm = GaussianMixture(K, covariance_type="full", random_state=seed).fit(ztr)
        floor = lambda r, K=K: (1 - 1e-6) * r + 1e-6 / K  # noqa: E731  (full support, as the package's teachers)
        out[f"gmm-K{K}"] = (floor(gm.predict_proba(ztr)), floor(gm.predict_proba(zte)), ztr, zte)
    del x
    return out


def null_codes(kind: str, n: int, real: np.ndarray, rng: np.random.Generator, center: np.ndarray) -> np.ndarray:
    """n null codes: ``center`` (the encoder's one constant), plus noise independent of x, or real
    codes permuted across rows (their pairing with the rows destroyed)."""
    base = np.tile(center, (n, 1))
    if kind == "constant":
        return base
    if kind.startswith("noise-"):
        return base + float(kind.split("-", 1)[1]) * rng.standard_normal(base.shape)
    if kind == "permuted":
        return real[rng.permutation(real.shape[0])[:n]]
    raise ValueError(kind)


def one_draw(T_fit, T_eval, codes_fit, codes_eval, rng, delta, draws_per_row, permutations):
    n_f, n_e = T_fit.shape[0], T_eval.shape[0]
    K, d = T_fit.shape[1], codes_fit.shape[1]
    f_ids, e_ids = np.arange(n_f), n_f + np.arange(n_e)
    seed = int(rng.integers(2 ** 31))
    out = {}
    raw = wt.RawWitness(wt.Witness(K, d, 4.0), seed=seed)                 # fixed: fitted on no rows
    fitted, probe = wt.FittedWitness(seed=seed, warm_start=True), wt.Probe(seed=seed, tol=PROBE_TOL)   # as the evaluation
    for name, cert in (("raw", raw.certify(T_eval, codes_eval, e_ids, delta=delta, permutations=permutations)),
                       ("fitted", fitted.fit(T_fit, codes_fit, f_ids).certify(T_eval, codes_eval, e_ids, delta=delta,
                                                                              permutations=permutations)),
                       ("probe", probe.fit(T_fit, codes_fit, f_ids).certify(T_eval, codes_eval, e_ids, delta=delta,
                                                                            permutations=permutations))):
        out[name] = (cert.certified, cert.bound.p_value <= delta, cert.margin)
    z_fit = codes_fit + rng.standard_normal(codes_fit.shape)
    z_eval = codes_eval[:, None] + rng.standard_normal((n_e, draws_per_row, d))
    fitted.max_iter, probe.tol = POSTERIOR_REFIT_STEPS, POSTERIOR_PROBE_TOL  # the evaluation's refits
    for name, estimator in (("post_fitted", fitted), ("post_probe", probe)):   # refitted on (n, 1, d) draws
        cert = estimator.fit(T_fit, z_fit[:, None], f_ids).certify(T_eval, z_eval, e_ids, delta=delta,
                                                                   permutations=permutations)
        out[name] = (cert.certified, cert.bound.p_value <= delta, cert.margin)
    au = wt.certified_active_units(T_fit, z_fit, T_eval, z_eval, delta=delta)
    out[UNITS] = (au["certified_active_units"] > 0, bool((au["p_values"] <= delta).any()), float(au["lcb"].max()))
    return out


_TEACHERS: dict = {}   # filled in the parent before the workers fork (read-only there)


def run_case(job):
    """One (teacher, null kind) case: ``draws`` instances, counts per predictor."""
    tname, kind, args = job
    from threadpoolctl import threadpool_limits

    T_tr, T_te, z_tr, z_te = _TEACHERS[tname]
    rng = np.random.default_rng([sum(map(ord, tname)), NULLS.index(kind)])
    cert = {p: 0 for p in (*PREDICTORS, UNITS)}
    perm = {p: 0 for p in (*PREDICTORS, UNITS)}
    positive = {p: 0 for p in (*PREDICTORS, UNITS)}
    with threadpool_limits(1):
        for _ in range(args.draws):
            fit = rng.choice(T_tr.shape[0], size=min(args.fit_rows, T_tr.shape[0]), replace=False)
            center = rng.standard_normal(z_tr.shape[1])  # one encoder: the same constant on both splits
            codes_fit = null_codes(kind, fit.size, z_tr, rng, center)
            codes_eval = null_codes(kind, T_te.shape[0], z_te, rng, center)
            r = one_draw(T_tr[fit], T_te, codes_fit, codes_eval, rng, args.delta, args.posterior_draws,
                         args.permutations)
            for p, (c, sig, g) in r.items():
                cert[p] += int(c)
                perm[p] += int(sig)
                positive[p] += int(g > 0)
    return f"{tname}/{kind}", {"draws": args.draws, "certified": cert, "permutation_p<=delta": perm,
                               "margin>0": positive}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--fit-rows", type=int, default=500)
    ap.add_argument("--delta", type=float, default=wt.DEFAULT_DELTA)
    ap.add_argument("--posterior-draws", type=int, default=8)
    ap.add_argument("--permutations", type=int, default=199)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (one case each at a time)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    t0 = time.time()
    _TEACHERS.update(teachers())
    jobs = [(tname, kind, args) for tname in _TEACHERS for kind in NULLS]
    if args.jobs > 1:
        import multiprocessing as mp
        with mp.get_context("fork").Pool(args.jobs) as pool:
            results = pool.map(run_case, jobs, chunksize=1)
    else:
        results = [run_case(j) for j in jobs]
    counts = dict(results)
    for name, v in counts.items():
        print(f"{name:24s} certified {v['certified']}  perm {v['permutation_p<=delta']}  margin>0 {v['margin>0']}",
              flush=True)
    wall = time.time() - t0
    worst = max(max(v["certified"].values()) / v["draws"] for v in counts.values())
    worst_perm = max(max(v["permutation_p<=delta"].values()) / v["draws"] for v in counts.values())
    summary = {"command": "python bench/null_calibration.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "delta": args.delta, "fit_rows": args.fit_rows, "posterior_draws": args.posterior_draws,
               "permutations": args.permutations, "wall_s": round(wall, 1), "machine": platform.machine(),
               "worst_certified_rate": worst, "worst_permutation_rate": worst_perm, "cases": counts}
    print(f"worst certified rate {worst:.3f}, worst permutation rate {worst_perm:.3f} (delta {args.delta}); "
          f"{wall:.0f} s")
    if args.out:
        from empirical.io import atomic_write_json
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.out / "null_calibration.json", summary)
    return 0 if worst <= args.delta else 1


if __name__ == "__main__":
    raise SystemExit(main())
