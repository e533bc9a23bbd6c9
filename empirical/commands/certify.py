"""``python -m empirical certify``: certificate of encoder means against a data set's teacher.

Takes encoder means (``--codes``: an (N, d) ``.npy``, or an ``.npz`` with key ``codes`` or
``mu``) for one split of a data set, or a trained VAE checkpoint (``--checkpoint``, encoded by
``empirical.training.evaluation.encode_checkpoint``), evaluates I_T, L_TS, G_T, the verdict, the T8 size
bound and every applicable ledger check, prints them and writes a JSON next to the codes
(``<codes>.certificate.json``) or to ``--out``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from empirical.commands.common import add_common_arguments, experiment_config

_USES = ("data", "teacher", "witness", "model")   # the tree sections certify reads
HELP = "certify encoder means (or a VAE checkpoint) against the data set's teacher"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, runs=False)
    parser.add_argument("--codes", default=None,
                        help="encoder means of one split: an .npz written by write_codes (codes + row ids), or a bare "
                             "(N, d) .npy/.npz in the split's row order (accepted with a warning)")
    parser.add_argument("--fit-codes", default=None,
                        help="encoder means of the training split (same format): adds the held-out certificates "
                             "(fitted witness, probe) fitted on them and scored on --codes (--split test)")
    parser.add_argument("--checkpoint", default=None,
                        help="a trained VAE checkpoint (instead of --codes): both splits are encoded, all three "
                             "certificates reported")
    parser.add_argument("--split", choices=("test", "train"), default="test", help="split of the codes (default test)")


def _data_and_teacher(args) -> tuple:
    """(data set, TeacherResult, description) of the resolved config: --teacher FILE or the search."""
    from empirical.configure import search_config
    from empirical.data.loaders import load_dataset
    from empirical.data.teacher import teacher_for
    from empirical.training.experiment import teacher_from_file

    config, _ = experiment_config(args, uses=_USES)
    ds = load_dataset(config.data.name, config.data.root, limit=config.data.limit, scaling=config.data.scaling)
    if config.teacher.file:
        return ds, teacher_from_file(config.teacher.file, ds), f"teacher file {config.teacher.file}", config
    res = teacher_for(ds, witness_scale=config.witness.scale, latent_dim=config.model.latent_dim,
                      seed=config.teacher.seed, cache_dir=config.teacher.cache, config=search_config(config),
                      progress=True)
    return ds, res, f"default teacher {res.path or '(not cached)'}", config


def _heldout_from_codes(T_fit, codes_fit, T_eval, codes_eval, seed: int = 0) -> dict:
    import witness_theory as wt
    from empirical.training.evaluation import certificate_columns

    n = T_fit.shape[0]
    fit_ids, eval_ids = np.arange(n), n + np.arange(T_eval.shape[0])   # training rows, then test rows: disjoint
    out: dict = {"heldout_split": f"fit: the {n} training rows of --fit-codes; eval: the {T_eval.shape[0]} rows of --codes"}
    estimators: tuple[tuple[str, wt.FittedWitness | wt.Probe], ...] = (
        ("fitted", wt.FittedWitness(seed=seed)), ("probe", wt.Probe(seed=seed, tol=1e-6)))
    for name, estimator in estimators:
        c = estimator.fit(T_fit, codes_fit, fit_ids).certify(T_eval, codes_eval, eval_ids,
                                                             permutations=wt.DEFAULT_PERMUTATIONS)
        out.update(certificate_columns(name, c))
        out.update({f"L_{name}": c.loss, f"I_T_{name}": c.teacher_information, "delta": wt.DEFAULT_DELTA})
    return out


def run(args: argparse.Namespace) -> int:
    import warnings

    from empirical.experiments.certify import certify_codes, check_table, load_codes
    from empirical.io import atomic_write_json, check_output_path, library_versions
    from witness_theory.io import check_regular_file

    config, _ = experiment_config(args, uses=_USES)  # a bad or unused --set key fails first
    if (args.codes is None) == (args.checkpoint is None):
        raise ValueError("pass exactly one of --codes FILE or --checkpoint PATH")
    if args.fit_codes and not args.codes:
        raise ValueError("--fit-codes goes with --codes (a --checkpoint is encoded on both splits itself)")
    if args.fit_codes and args.split != "test":
        raise ValueError("--fit-codes needs --split test: the held-out certificate scores the test split")
    for flag, value in (("--codes", args.codes), ("--fit-codes", args.fit_codes), ("--checkpoint", args.checkpoint),
                        ("--teacher", args.teacher)):
        if value is not None:   # before any work: a named pipe never blocks, a directory never reaches a parser
            check_regular_file(value, f"{flag}")
    if args.out:
        check_output_path(args.out, "--out")
    log_var = frame = None
    heldout: dict = {}
    if args.checkpoint:
        try:
            from empirical.training.evaluation import encode_checkpoint
        except ImportError as exc:
            raise ValueError(f"--checkpoint needs empirical.training.evaluation.encode_checkpoint, which is not "
                             f"available ({exc}); export the encoder means and pass --codes instead") from None
        if not Path(args.checkpoint).exists():
            raise FileNotFoundError(f"checkpoint {args.checkpoint!r} does not exist")
        enc = encode_checkpoint(args.checkpoint, split=args.split, heldout=True, teacher_file=args.teacher)
        codes = np.asarray(enc["codes"], dtype=np.float64)
        T = np.asarray(enc["teacher"], dtype=np.float64)
        log_var = np.asarray(enc["log_var"], dtype=np.float64)
        frame, heldout = enc.get("frame"), enc["heldout"]
        witness_scale = float(enc["witness_scale"])
        source = f"checkpoint {args.checkpoint} (teacher {enc['teacher_hash'][:16]}...)"
        default_out = Path(args.checkpoint).with_suffix("").as_posix() + f".{args.split}.certificate.json"
    else:
        ds, res, source, config = _data_and_teacher(args)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            codes = load_codes(args.codes, ds, args.split)
            fit_codes = load_codes(args.fit_codes, ds, "train") if args.fit_codes else None
        for w in caught:
            print(f"warning: {w.message}")
        T = np.asarray(res.T_train if args.split == "train" else res.T_test, dtype=np.float64)
        if fit_codes is not None:
            heldout = _heldout_from_codes(np.asarray(res.T_train, np.float64), fit_codes, T, codes)
        witness_scale = config.witness.scale
        default_out = Path(args.codes).with_suffix("").as_posix() + ".certificate.json"
    K = T.shape[1]
    if codes.shape[1] < K - 1:
        raise ValueError(f"codes have latent dimension d = {codes.shape[1]} < K-1 = {K - 1} of the teacher; "
                         "the witness needs d >= K-1 (use --set model.latent_dim=D to search a teacher with fewer outcomes)")
    result = certify_codes(T, codes, witness_scale, frame=frame, log_var=log_var)
    result.update(source=source, split=args.split, dataset=args.dataset, heldout=heldout, versions=library_versions())
    out = Path(args.out) if args.out else Path(default_out)
    atomic_write_json(out, result)

    print(f"teacher: {source}; codes: {codes.shape[0]} x {codes.shape[1]}, K = {K}, beta = {witness_scale:g}")
    print(f"I_T  = {result['I_T']:.6f} nats   (teacher information: the largest reachable margin)")
    print(f"L_TS = {result['L_TS']:.6f} nats   (teacher-witness alignment loss)")
    print(f"G_T  = {result['G_T']:.6f} nats   -> {result['verdict']} on these rows (raw certificate, fixed witness; "
          f"float error bound {result['float_error']:.2g})")
    if result.get("lcb_raw") is not None:
        print(f"       I(Y;Z) >= {result['lcb_raw']:.4f} nats at {1 - result['delta']:.0%}, p = {result['p_raw']:.3g} "
              f"-> {result['verdict_raw']} (T13: the population the rows were drawn from)")
    for name, what in (("fitted", "fitted witness"), ("probe", "logistic probe")):
        if f"G_{name}" in heldout:
            lcb, p = heldout.get(f"lcb_{name}"), heldout.get(f"p_{name}")
            level = f"{1 - heldout.get('delta', 0.05):.0%}"
            bound = "" if lcb is None else f"; I(Y;Z) >= {lcb:.4f} nats at {level}" + ("" if p is None else f", p = {p:.3g}")
            print(f"G_{name:7s}= {heldout[f'G_{name}']:.6f} nats   -> {heldout.get(f'verdict_{name}')} (held-out "
                  f"certificate, {what}{bound}; {heldout['heldout_split']})")
    if not heldout:
        print("held-out certificates: pass --fit-codes (training-split codes) or --checkpoint to add them")
    print(f"T8 size bound {result['size_bound']:.6f} (slack {result['size_bound_slack']:.6f}); "
          f"certified spread tr Cov(P^T mu) >= {result['certified_spread']:.6g}")
    print(check_table(result["checks"]))
    print(f"wrote {out}")
    return 0 if result["all_checks_hold"] else 1
