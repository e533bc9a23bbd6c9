"""``python -m witness_theory`` prints the theorem ledger;
``python -m witness_theory check FILE`` checks a teacher matrix against every theorem that applies.

Exit status: 0 when every check holds, 1 when one fails, 2 for bad input (an unreadable or
invalid file, an unknown option): then one line "error: ..." on stderr names the file or option.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import core, validation
from .defaults import WITNESS_SCALE
from .io import load_array
from .theorems import LEDGER, check_all


def load_matrix(path: str | Path, name: str, key: str | None = None) -> np.ndarray:
    """Read a matrix from .npy, .npz (``key``, else 'teacher'/'T', else the only array) or .csv.

    A thin wrapper of :func:`witness_theory.io.load_array`: every problem is a ValueError
    that starts with "``name`` file ``path``:" (no traceback, no pickle, no hang on a FIFO).
    """
    return load_array(path, name, allowed=(".npy", ".npz", ".csv", ".txt"), key=key,
                      prefer=("teacher", "T") if name == "teacher" else (),
                      numeric=name != "groups", ndmin=2 if name == "teacher" else 1)


def _in_file(path, role: str, check, *args, **kwargs):
    """Run a validator on an array read from ``path``; its ValueError/TypeError then names the file."""
    try:
        return check(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{role} file {path}: {exc}") from None


def _one_per_row(arr: np.ndarray, path, role: str, what: str) -> np.ndarray:
    """A 1-D array from a file, or a ValueError naming the file: a 2-D array is refused, not
    flattened (flattening an (N, 2) array gives 2N values in an order nobody chose)."""
    if arr.ndim != 1:
        raise ValueError(f"{role} file {path}: {role} must be a 1-D array with one {what} per teacher row, "
                         f"got shape {arr.shape}; save a 1-D array (e.g. np.save(path, {role}[:, 0]) for one column)")
    return arr


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
    if args.key is not None and Path(args.file).suffix.lower() != ".npz":
        raise ValueError(f"teacher file {args.file}: --key names an array inside an .npz, "
                         f"but this is a {Path(args.file).suffix or 'suffix-less'} file; drop --key")
    T = load_matrix(args.file, "teacher", args.key)
    if T.ndim != 2:
        raise ValueError(f"teacher file {args.file}: teacher must be an (N, K) matrix, got shape {T.shape}")
    T = _in_file(args.file, "teacher", validation.check_distributions, T, "teacher")
    N, K = T.shape
    weights = None
    if args.weights:
        weights = _one_per_row(load_matrix(args.weights, "weights"), args.weights, "weights", "weight")
        _in_file(args.weights, "weights", validation.check_weights, weights, N)
    codes = load_matrix(args.codes, "codes") if args.codes else None
    d = args.latent_dim
    if d is None:
        d = int(np.atleast_2d(codes).shape[1]) if codes is not None else K - 1
    try:
        witness = core.Witness(K, d, args.witness_scale)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"--latent-dim/--witness-scale with K = {K} from teacher file {args.file}: {exc}") from None
    if codes is not None:
        codes = _in_file(args.codes, "codes", validation.check_codes, codes, witness.d, N)
        _in_file(args.codes, "codes", witness.logits, codes)        # logits that overflow float64
        _in_file(args.codes, "codes", witness.subspace_coordinates, codes)
    groups = None
    if args.groups:
        groups = _one_per_row(load_matrix(args.groups, "groups"), args.groups, "groups", "view label")
        _in_file(args.groups, "groups", core.group_indices, groups, N)
    full = bool(np.all(T > 0))
    summary = {
        "file": str(args.file), "N": T.shape[0], "K": K, "d": d, "witness_scale": witness.scale,
        "I_T": core.teacher_information(T, weights),
        "H(Tbar)": float(core.entropy(core.teacher_marginal(T, weights))[0]),
        "E_T": core.logodds_energy(T, weights) if full else None,
        "exact_code_energy": core.exact_code_energy(T, witness, weights) if full else None,
    }
    if codes is not None:
        cert = _in_file(args.codes, "codes", core.certify, T, codes, witness, weights)   # overflow: refused
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


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (exit status 2 from main), and does not
    accept abbreviations (``--wei`` for ``--weights``): an option is named in full or refused."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise _UsageError(f"{message} (see {self.prog} -h)")


# --witness-scale range on the command line: the ledger checks raise beta to the 4th power
# (T6's step bound) and divide by beta^2 (T5, T6), so beta^4 must stay well inside float64
# (1e-308 .. 1e308): 1e-50 .. 1e50 keeps it within 1e-200 .. 1e200. The library itself accepts
# any finite beta > 0 and reports what overflows.
SCALE_RANGE = (1e-50, 1e50)


def _finite_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    if not SCALE_RANGE[0] <= v <= SCALE_RANGE[1]:
        raise argparse.ArgumentTypeError(f"must lie in [{SCALE_RANGE[0]:g}, {SCALE_RANGE[1]:g}] (the ledger "
                                         f"checks use beta^4, which would leave float64's range), got {text!r}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return v


def main(argv=None) -> int:
    parser = _Parser(prog="python -m witness_theory", description=__doc__)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("ledger", help="print the theorem ledger (the default)")
    c = sub.add_parser("check", help="check a teacher matrix (.npy/.npz/.csv) against every theorem that applies")
    c.add_argument("file", help="teacher matrix (N, K): rows are probability vectors")
    c.add_argument("--key", help="array name inside an .npz (default: 'teacher', 'T' or the only array)")
    c.add_argument("--weights", help="optional weights (N,) file")
    c.add_argument("--codes", help="optional encoder means (N, d) file: adds T2/T8 on them and the certificate")
    c.add_argument("--groups", help="optional discrete view labels (N,) file: adds T9")
    c.add_argument("--witness-scale", type=_finite_float, default=WITNESS_SCALE,
                   help=f"witness scale beta (default {WITNESS_SCALE:g}, as in the experiments)")
    c.add_argument("--latent-dim", type=_positive_int, default=None,
                   help="latent dimension d (default K-1, or the codes' d)")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    try:
        args = parser.parse_args(argv)
        if args.command in (None, "ledger"):
            print_ledger()
            return 0
        return run_check(args)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory while checking; the inputs are too large for this machine", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)   # one line
        return 2


if __name__ == "__main__":
    sys.exit(main())
