"""``python -m witness_theory`` prints the theorem ledger;
``python -m witness_theory check FILE`` checks a teacher matrix against every theorem that applies.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import core
from .theorems import LEDGER, check_all


def load_matrix(path: str | Path, name: str, key: str | None = None) -> np.ndarray:
    """Read a matrix from .npy, .npz (``key``, else 'teacher'/'T', else the only array) or .csv."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{name} file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                for k in ([key] if key else []) + ["teacher", "T"]:
                    if k in z:
                        return z[k]
                if key:
                    raise ValueError(f"{name} file {path} has no array {key!r}; it has {keys}")
                if len(keys) == 1:
                    return z[keys[0]]
                raise ValueError(f"{name} file {path} holds several arrays {keys}; name one with --key")
        if suffix in (".csv", ".txt"):
            return np.loadtxt(path, delimiter="," if suffix == ".csv" else None, ndmin=2 if name == "teacher" else 1)
    except (OSError, EOFError) as exc:
        raise ValueError(f"could not read {name} file {path}: {exc}") from None
    raise ValueError(f"{name} file {path} must be .npy, .npz or .csv, got {suffix!r}")


def print_ledger(out=sys.stdout) -> None:
    print("witness-theory ledger: theorems of docs/theory.md, each an executable check\n", file=out)
    for t in LEDGER:
        print(f"{t.id:<4} {t.title}", file=out)
        print(f"     {t.statement}", file=out)
        print(f"     needs: {'; '.join(t.conditions)}", file=out)
        print(f"     check: witness_theory.theorems.{t.id}.check(...)", file=out)
    print("\nThe theory (definitions, derivations, proofs and experiments per theorem): docs/theory.md", file=out)
    print("Check a teacher matrix: python -m witness_theory check FILE [--weights FILE]", file=out)


def run_check(args) -> int:
    T = load_matrix(args.file, "teacher", args.key)
    if T.ndim != 2:
        raise ValueError(f"teacher must be an (N, K) matrix, got shape {T.shape}")
    weights = load_matrix(args.weights, "weights").ravel() if args.weights else None
    K = T.shape[1]
    d = args.latent_dim if args.latent_dim is not None else K - 1
    witness = core.Witness(K, d, args.witness_scale)
    codes = load_matrix(args.codes, "codes") if args.codes else None
    groups = load_matrix(args.groups, "groups").ravel() if args.groups else None
    T = T.astype(np.float64)
    full = bool(np.all(T > 0))
    summary = {
        "file": str(args.file), "N": T.shape[0], "K": K, "d": d, "witness_scale": witness.scale,
        "I_T": core.teacher_information(T, weights),
        "H(Tbar)": float(core.entropy(core.teacher_marginal(T, weights))[0]),
        "E_T": core.logodds_energy(T, weights) if full else None,
        "exact_code_energy": core.exact_code_energy(T, witness, weights) if full else None,
    }
    if codes is not None:
        cert = core.certify(T, codes, witness, weights)
        summary.update(L_TS=cert.alignment_loss, G_T=cert.margin, verdict=cert.verdict)
    results = check_all(T, witness, weights, codes=codes, groups=groups)
    if args.json:
        print(json.dumps({"summary": summary, "checks": [r.as_dict() for r in results]}, indent=2, default=float))
    else:
        for k, v in summary.items():
            if v is None:
                v = "n/a (teacher has zero entries; needs full support)"
            print(f"{k:>18}: {v:.10g}" if isinstance(v, float) else f"{k:>18}: {v}")
        if not full:
            print("note: zero entries, so T4, T5, T7 (full support) were skipped")
        print(f"\n{'theorem':<8} {'holds':<6} {'largest residual':>17} {'tolerance':>11}  worst relation")
        for r in results:
            w = r.worst
            print(f"{r.theorem:<8} {'yes' if r.holds else 'NO':<6} {r.max_residual:>17.3e} {w.tolerance:>11.3e}  {w.name}")
    return 0 if all(r.holds for r in results) else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m witness_theory", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("ledger", help="print the theorem ledger (the default)")
    c = sub.add_parser("check", help="check a teacher matrix (.npy/.npz/.csv) against every theorem that applies")
    c.add_argument("file", help="teacher matrix (N, K): rows are probability vectors")
    c.add_argument("--key", help="array name inside an .npz (default: 'teacher', 'T' or the only array)")
    c.add_argument("--weights", help="optional weights (N,) file")
    c.add_argument("--codes", help="optional encoder means (N, d) file: adds T2/T8 on them and the certificate")
    c.add_argument("--groups", help="optional discrete view labels (N,) file: adds T9")
    c.add_argument("--witness-scale", type=float, default=1.0, help="witness scale beta (default 1)")
    c.add_argument("--latent-dim", type=int, default=None, help="latent dimension d (default K-1, or the codes' d)")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.command in (None, "ledger"):
        print_ledger()
        return 0
    try:
        if args.codes and args.latent_dim is None:
            args.latent_dim = int(np.atleast_2d(load_matrix(args.codes, "codes")).shape[1])
        return run_check(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
