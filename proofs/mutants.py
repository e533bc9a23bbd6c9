"""Hand-made semantic mutants of the theorem formulas, and a harness that checks the proofs kill them.

Each mutant is (id, file, exact old text, new text, what it breaks, the tests that must kill it).
The harness copies the repository's packages (``witness_theory``, ``empirical``, ``proofs``) into
a temporary directory once, then for every mutant writes the mutated file there, runs the named
proof tests with pytest in that directory (so ``import witness_theory`` is the mutated copy:
checked by a baseline run), and restores the file. A mutant is *killed* when pytest fails (exit
status 1), *survived* when it passes; any other status (collection error, timeout) is reported
as such and counts as killed only with ``--errors-kill``. The unmutated copy must pass first,
otherwise every "kill" would be meaningless.

Usage (from the repository root)::

    .venv/bin/python proofs/mutants.py                 # all hand-made mutants, their targeted tests
    .venv/bin/python proofs/mutants.py --only au_ge    # some of them
    .venv/bin/python proofs/mutants.py --full          # also the existing proof files of each theorem
    .venv/bin/python proofs/mutants.py --existing      # only those (what the proofs caught before)
    .venv/bin/python proofs/mutants.py --json out.json # machine-readable results

Exit status: 0 when every mutant not marked equivalent is killed, 1 otherwise, 2 when the
unmutated baseline fails. The Hypothesis profile is ``ci`` (deterministic) unless
``HYPOTHESIS_PROFILE`` says otherwise. See docs/mutation.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COPIED = ("witness_theory", "empirical", "proofs", "pyproject.toml")
TM = "proofs/test_mutants.py"
T13 = "proofs/test_t13_information.py"


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str                 # path relative to the repository root
    old: str                  # exact text; must occur exactly once in the file
    new: str
    description: str
    tests: tuple[str, ...]    # pytest node ids (or files) that must kill it
    full: tuple[str, ...] = ()   # the existing proof files of that theorem (run with --full)
    equivalent: str = ""      # non-empty: why no input can tell it apart from the original


MUTANTS: tuple[Mutant, ...] = (
    # --- T8 active-units lower bound (collapse_metrics.active_units_lower_bound) -------------
    Mutant("au_lb_plus1", "witness_theory/collapse_metrics.py",
           "return max(0, int(math.ceil(q * (1 - 1e-12) - 1e-12)))",
           "return max(0, int(math.ceil(q * (1 - 1e-12) - 1e-12)) + 1)",
           "T8 active-units lower bound + 1 (unsound)",
           (f"{TM}::test_t8_active_units_bound_is_the_brute_force_minimum",),
           ("proofs/test_t08_size_bound.py", "proofs/test_collapse_metrics.py")),
    Mutant("au_lb_vmax", "witness_theory/collapse_metrics.py",
           "q = (s - d * delta) / (vmax - delta)",
           "q = (s - d * delta) / vmax",
           "T8 active-units bound divides by V_max instead of V_max - delta (weaker than stated)",
           (f"{TM}::test_t8_active_units_bound_is_the_brute_force_minimum",),
           ("proofs/test_t08_size_bound.py", "proofs/test_collapse_metrics.py")),
    Mutant("au_lb_allowance_sign", "witness_theory/collapse_metrics.py",
           "return max(0, int(math.ceil(q * (1 - 1e-12) - 1e-12)))",
           "return max(0, int(math.ceil(q * (1 - 1e-12) + 1e-12)))",
           "T8 bound's rounding allowance with the wrong sign (unsound where q rounds an ulp above an exact integer)",
           (f"{TM}::test_t8_bound_is_at_most_the_exact_quotient_ceiling",),
           ("proofs/test_t08_size_bound.py", "proofs/test_collapse_metrics.py")),
    # --- active units (vae-lagging-encoder's definition) --------------------------------------
    Mutant("au_strict", "witness_theory/collapse_metrics.py",
           "return int((var >= delta).sum()), var",
           "return int((var > delta).sum()), var",
           "active units with Var > delta instead of >= delta",
           (f"{TM}::test_active_units_is_the_lagging_encoder_definition",
            f"{TM}::test_active_units_at_the_threshold"),
           ("proofs/test_collapse_metrics.py",)),
    Mutant("au_ddof0", "witness_theory/collapse_metrics.py",
           "return mu.var(axis=0, ddof=1)",
           "return mu.var(axis=0, ddof=0)",
           "active units with the biased variance (ddof=0)",
           (f"{TM}::test_active_units_is_the_lagging_encoder_definition",
            f"{TM}::test_active_units_at_the_threshold"),
           ("proofs/test_collapse_metrics.py",)),
    # --- held-out fitting (heldout.py) --------------------------------------------------------
    Mutant("stiefel_ascent", "witness_theory/heldout.py",
           "G = beta * XT @ (R @ VT)",
           "G = -beta * XT @ (R @ VT)",
           "Stiefel descent with the gradient's sign flipped (ascent direction)",
           (f"{TM}::test_stiefel_descent_is_monotone_and_stationary",
            f"{TM}::test_fit_witness_not_worse_than_procrustes_start"),
           ("proofs/test_t2h_heldout.py",)),
    Mutant("stiefel_nosym", "witness_theory/heldout.py",
           "rgrad = G - P @ (0.5 * (sym + sym.T))",
           "rgrad = G - P @ sym",
           "Stiefel descent without the symmetrisation of P^T G (not the Riemannian gradient)",
           (f"{TM}::test_stiefel_descent_is_monotone_and_stationary",),
           ("proofs/test_t2h_heldout.py",)),
    Mutant("probe_weights", "witness_theory/heldout.py",
           "reg = 1.0 / (C * n)",
           "reg = 1.0 / C",
           "probe penalty ||W||^2 / 2C instead of / 2Cn (sample weights w_i T_ik instead of n w_i T_ik: "
           "C then means n times less)",
           (f"{TM}::test_probe_minimises_the_documented_objective",
            f"{TM}::test_probe_is_scikit_learns_fit_on_replicated_rows"),
           ("proofs/test_t2h_heldout.py",)),
    Mutant("split_zero_eval", "witness_theory/heldout.py",
           "n_eval = min(max(int(round(f * n)), 1), int(n) - 1)",
           "n_eval = min(int(round(f * n)), int(n) - 1)",
           "heldout_split can give 0 evaluation rows",
           (f"{TM}::test_heldout_split_gives_both_splits_a_row",),
           ("proofs/test_t2h_heldout.py",)),
    Mutant("probe_logit_du", "witness_theory/heldout.py",
           "return float((self.coef_.shape[1] + 2) * EPS * size.max())",
           "return float(self.coef_.shape[1] * EPS * size.max())",
           "probe logit rounding bound d u instead of (d + 2) u",
           (f"{TM}::test_probe_logit_error_bounds_the_exact_rounding",
            f"{TM}::test_probe_logit_error_is_the_documented_bound"),
           ("proofs/test_t2h_heldout.py",)),
    Mutant("drop_logit_error", "witness_theory/heldout.py",
           "* EPS * (mag + 1.0) + 2.0 * logit_error",
           "* EPS * (mag + 1.0)",
           "probe margin's float error without the 2 * logit_error term",
           (f"{TM}::test_probe_margin_float_error_is_sound",),
           ("proofs/test_t2h_heldout.py",)),
    Mutant("heldout_mag_term", "witness_theory/heldout.py",
           "mag = core.wsum(w, -neg_h - cross_h - cross_bar)",
           "mag = core.wsum(w, -neg_h - cross_h)",
           "probe margin's magnitude without the sum T |log Tbar| term",
           (f"{TM}::test_probe_float_error_is_the_documented_bound",),
           ("proofs/test_t2h_heldout.py",)),
    # --- certify (core.py) ---------------------------------------------------------------------
    Mutant("certify_ge", "witness_theory/core.py",
           "certified=bool(margin > float_error)",
           "certified=bool(margin >= float_error)",
           "certify counts margin == float_error as certified",
           (f"{TM}::test_certify_is_strict_at_the_float_error",),
           ("proofs/test_t02_certificate_soundness.py", "proofs/test_certify_kernel.py")),
    Mutant("error_const_4", "witness_theory/core.py",
           "return float((K + np.log2(n) + 8) * EPS",
           "return float((K + np.log2(n) + 4) * EPS",
           "certify's rounding bound with constant 4 instead of 8",
           (f"{TM}::test_certify_float_error_is_the_documented_bound",
            f"{TM}::test_certify_float_error_is_sound_against_mpmath"),
           ("proofs/test_t02_certificate_soundness.py", "proofs/test_certify_kernel.py")),
    Mutant("magnitude_sign", "witness_theory/core.py",
           "self.magnitude_rows = -self.neg_entropy_rows - cross_bar",
           "self.magnitude_rows = self.neg_entropy_rows - cross_bar",
           "certify's magnitude with sum T log T instead of sum T |log T|",
           (f"{TM}::test_certify_float_error_is_the_documented_bound",),
           ("proofs/test_t02_certificate_soundness.py", "proofs/test_certify_kernel.py")),
    # --- found by the mutmut run on core.py (results/proofs/mutation.md) -------------------
    Mutant("escape_bound_sign", "witness_theory/core.py",
           "bound = L0 - eps * b2k * R + np.float64(eps) ** 2 * b2k ** 2 * R / 4",
           "bound = L0 + eps * b2k * R + np.float64(eps) ** 2 * b2k ** 2 * R / 4",
           "T6 escape-step bound with + eps beta^2 kappa R (a larger, useless bound)",
           (f"{TM}::test_escape_step_bound_is_the_descent_lemma",),
           ("proofs/test_t06_escape_direction.py",)),
    Mutant("spread_nonpositive", "witness_theory/core.py",
           'margin = check_finite_number(margin, "margin")\n    if margin <= 0:\n        return 0.0',
           'margin = check_finite_number(margin, "margin")\n    if margin <= 0:\n        return 1.0',
           "T8 certified spread of a non-positive margin is 1 instead of 0",
           (f"{TM}::test_certified_spread_of_a_nonpositive_margin_is_zero",),
           ("proofs/test_t08_size_bound.py",)),
    # --- marginal, Gaussian KL (core.py) -----------------------------------------------------
    Mutant("marginal_unnormalised", "witness_theory/core.py",
           "return tbar / tbar.sum()  # sums to 1",
           "return tbar  # sums to 1",
           "Tbar without its renormalisation",
           (f"{TM}::test_marginal_sums_to_one",),
           ("proofs/test_t01_constant_baseline.py",)),
    Mutant("kl_exp_minus_1", "witness_theory/core.py",
           "var_terms = np.expm1(lv) - lv",
           "var_terms = (np.exp(lv) - 1) - lv",
           "Gaussian KL with exp(lv) - 1 in place of expm1(lv)",
           (f"{TM}::test_gaussian_kl_against_mpmath",),
           ("proofs/test_t10_gaussian_kl.py",)),
    # --- T11 frontier (frontier.py) ----------------------------------------------------------
    Mutant("min_energy_root_below_rounding", "witness_theory/frontier.py",
           "    if L < loss_rounding(tch.K, loss0):\n",
           "    if False:\n",
           "T11 E_min by the root search even where L is below the computed loss's rounding",
           (f"{TM}::test_min_energy_two_outcomes_closed_form",),
           ("proofs/test_t11_frontier.py",)),
    Mutant("newton_uncentred", "witness_theory/frontier.py",
           "delta -= _sum_rows(delta, axis=1, keepdims=True) / K",
           "pass",
           "T11 Newton step without its centring",
           (f"{TM}::test_frontier_logits_stay_centred",),
           ("proofs/test_t11_frontier.py",),
           equivalent="sMg = -sum_k g_k / (1 + c S_k) assumes 1^T g = 0, so the Sherman-Morrison step is centred "
                      "by construction; the explicit centring only removes a rounding-level mean (measured "
                      "|mean a| <= 0.59 K EPS (1 + max|a|) without it, 0.54 with it, 400 adversarial draws)"),
    Mutant("bracket_1e6", "witness_theory/frontier.py",
           "lo, hi = np.log(1e-8), np.log(1e12)",
           "lo, hi = np.log(1e-8), np.log(1e6)",
           "T11 root bracket up to c = 1e6 instead of 1e12",
           (f"{TM}::test_min_energy_two_outcomes_closed_form",),
           ("proofs/test_t11_frontier.py",)),
    # --- T13 entropy width (information.marginal_box, box_varentropy) ------------------------
    Mutant("box_no_interior_max", "witness_theory/information.py",
           "per_c = np.where(inner, np.maximum(ends, 4.0 * np.exp(c - 2.0)), ends).sum(axis=1)",
           "per_c = ends.sum(axis=1)",
           "box varentropy without the interior maximum 4 e^(c-2) of q (log q - c)^2 (unsound)",
           (f"{T13}::test_box_varentropy_bounds_every_distribution_in_its_box",),
           (T13,)),
    Mutant("box_grid_moves", "witness_theory/information.py",
           "c = (np.arange(math.floor(ll.min() / h) - 1, math.ceil(lu.max() / h) + 2) * h)[:, None]",
           "c = np.linspace(ll.min(), lu.max(), 257)[:, None]",
           "centres spread over the box's own range: the bound is no longer monotone in the box, so an LCB can "
           "fall as the level rises (certified AU's p-values)",
           (f"{T13}::test_entropy_width_decreases_with_the_error_rate",),
           (T13,)),
    Mutant("capital_column_major", "witness_theory/information.py",
           "x = np.ascontiguousarray(np.clip(values[:, np.random.default_rng(seed).permutation(n)], 0.0, 1.0))",
           "x = np.clip(values[:, np.random.default_rng(seed).permutation(n)], 0.0, 1.0)",
           "the batched betting capital on column-major rows: each unit's bound is no longer the one-row bound "
           "bit for bit (row sums in another order)",
           (f"{T13}::test_betting_capital_of_many_rows_is_each_row_alone",),
           (T13,)),
    Mutant("unit_test_level", "witness_theory/information.py",
           "return log_capital(np.full(d, m_star)) >= math.log(2.0 / level)",
           "return log_capital(np.full(d, m_star)) >= math.log(1.0 / level)",
           "certified AU's one-pass test at the level, not level / 2 (the mean term's share): p-values below the "
           "bound's, a unit certified where its LCB is <= 0",
           (f"{T13}::test_certified_active_units_p_values_are_the_bounds",),
           (T13,)),
    Mutant("unit_sums_off", "witness_theory/information.py",
           "sums = np.stack([np.bincount(b, weights=T_columns[k], minlength=edges.size + 1) for k in range(K)], axis=1)",
           "sums = np.stack([np.bincount(b, weights=T_columns[k], minlength=edges.size + 1) for k in range(K)], "
           "axis=1) * (1 + 1e-15)",
           "the units' bin sums off by one part in 1e15 (as a reordered sum could be): the predictor is no longer "
           "the plainly written one",
           (f"{T13}::test_certified_active_units_p_values_are_the_bounds",),
           (T13,)),
    Mutant("box_union_k", "witness_theory/information.py",
           "L = math.log(2.0 * K / delta)",
           "L = math.log(K / delta)",
           "marginal box's union over K events instead of 2K (its error rate doubled)",
           (f"{T13}::test_marginal_box_ends_solve_the_bernstein_condition_and_cover",),
           (T13,)),
)


def _copy_tree(dst: str) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in COPIED:
        src = os.path.join(ROOT, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(dst, name), ignore=ignore)
        else:
            shutil.copy2(src, os.path.join(dst, name))


def _pytest(workdir: str, tests, timeout: float) -> tuple[int, float, str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=workdir)
    env.setdefault("HYPOTHESIS_PROFILE", "ci")
    env.pop("WITNESS_PROOFS_STATS", None)
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *tests]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
        rc, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out = -9, f"timeout after {timeout} s\n{exc.stdout or ''}"
    return rc, time.perf_counter() - t0, out


def _status(rc: int) -> str:
    return {0: "survived", 1: "killed", -9: "timeout"}.get(rc, f"error (pytest exit {rc})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", default=None, help="mutant ids to run (default: all)")
    ap.add_argument("--full", action="store_true", help="also run the existing proof files of each theorem")
    ap.add_argument("--existing", action="store_true",
                    help="run ONLY the existing proof files of each theorem (not proofs/test_mutants.py): "
                         "shows which mutants the proofs caught before these tests")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant (default 600)")
    ap.add_argument("--errors-kill", action="store_true", help="count errors and timeouts as kills")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if args.only is None or m.id in args.only]
    if args.only is not None and len(chosen) != len(set(args.only)):
        ap.error(f"unknown mutant ids: {sorted(set(args.only) - {m.id for m in MUTANTS})}")
    if args.list:
        for m in chosen:
            print(f"{m.id:24s} {m.file}: {m.description}" + (" [equivalent]" if m.equivalent else ""))
        return 0
    t_start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="witness-mutants-") as tmp:
        _copy_tree(tmp)
        # baseline: the copy is what pytest imports, and the unmutated code passes every test used
        check = subprocess.run([sys.executable, "-c", "import witness_theory; print(witness_theory.__file__)"],
                               cwd=tmp, env=dict(os.environ, PYTHONPATH=tmp), capture_output=True, text=True)
        if not check.stdout.strip().startswith(tmp):
            print(f"baseline: witness_theory imports from {check.stdout.strip()!r}, not the copy in {tmp}")
            return 2
        def tests_of(m: Mutant) -> tuple[str, ...]:
            return m.full if args.existing else m.tests + (m.full if args.full else ())

        all_tests = sorted({t for m in chosen for t in tests_of(m)})
        rc, secs, out = _pytest(tmp, all_tests, args.timeout * max(1, len(chosen)))
        print(f"baseline (unmutated): pytest exit {rc} in {secs:.1f} s")
        if rc != 0:
            print(out[-4000:])
            return 2
        for m in chosen:
            path = os.path.join(tmp, m.file)
            with open(path) as fh:
                original = fh.read()
            if original.count(m.old) != 1:
                print(f"{m.id}: the old text occurs {original.count(m.old)} times in {m.file}; update the mutant")
                return 2
            with open(path, "w") as fh:
                fh.write(original.replace(m.old, m.new))
            try:
                rc, secs, out = _pytest(tmp, tests_of(m), args.timeout)
            finally:
                with open(path, "w") as fh:
                    fh.write(original)
            status = _status(rc)
            failed = [ln.split(" ")[1] for ln in out.splitlines() if ln.startswith("FAILED ")]
            results.append({"id": m.id, "file": m.file, "description": m.description, "status": status,
                            "equivalent": m.equivalent, "seconds": round(secs, 1), "failed": failed})
            tag = f"{status}{' (marked equivalent)' if m.equivalent else ''}"
            print(f"{m.id:24s} {tag:30s} {secs:6.1f} s  {failed[0] if failed else ''}", flush=True)
    wall = time.perf_counter() - t_start
    killed = [r for r in results if r["status"] == "killed"
              or (args.errors_kill and r["status"] != "survived")]
    live = [r for r in results if r not in killed and not r["equivalent"]]
    print(f"\n{len(killed)}/{len(results)} killed, {sum(bool(r['equivalent']) for r in results)} marked equivalent, "
          f"{len(live)} not killed and not equivalent: {[r['id'] for r in live]}; wall {wall:.1f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"profile": os.environ.get("HYPOTHESIS_PROFILE", "ci"), "full": args.full, "existing": args.existing,
                       "wall_s": round(wall, 1), "results": results}, fh, indent=1)
    return 0 if not live else 1


if __name__ == "__main__":
    sys.exit(main())
