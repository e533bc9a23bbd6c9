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
    parser.add_argument("--codes", default=None, help="encoder means: (N, d) .npy, or .npz with key codes/mu")
    parser.add_argument("--checkpoint", default=None,
                        help="a trained VAE checkpoint (instead of --codes): encoded with empirical.training")
    parser.add_argument("--split", choices=("test", "train"), default="test", help="split of the codes (default test)")
    parser.add_argument("--teacher", default=None, help="teacher .npz (default: the cached default teacher)")


def _encode_checkpoint(path: str, split: str) -> dict:
    try:
        from empirical.training.evaluation import encode_checkpoint
    except ImportError as exc:
        raise ValueError(f"--checkpoint needs empirical.training.evaluation.encode_checkpoint, which is not available "
                         f"({exc}); export the encoder means to a .npy and pass --codes instead") from None
    if not Path(path).exists():
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    enc = encode_checkpoint(path, split=split)
    missing = [k for k in ("codes", "teacher", "witness_scale") if k not in enc]
    if missing:
        raise ValueError(f"encode_checkpoint({path!r}) returned no {missing}; expected keys codes, log_var, "
                         "teacher, witness_scale, frame")
    return enc


def _teacher_rows(args, n_codes: int) -> tuple[np.ndarray, str]:
    from empirical.config import search_config
    from empirical.data.loaders import load_dataset
    from empirical.data.teacher import FittedTeacher, teacher_for

    config, _ = experiment_config(args, uses=_USES)
    ds = load_dataset(config.data.name, config.data.root)  # the default split, as the VAE training uses
    x = ds.x_train if args.split == "train" else ds.x_test
    if n_codes != x.shape[0]:
        raise ValueError(f"codes have {n_codes} rows but the {args.split} split of {ds.name} has {x.shape[0]}; "
                         f"export one encoder mean per {args.split} image, in data-set order (or change --split)")
    if args.teacher:
        teacher = FittedTeacher.load(args.teacher)
        stored = teacher.T_train if args.split == "train" else teacher.T_test
        if stored is not None and stored.shape[0] == x.shape[0]:
            return stored, f"{args.teacher} (stored {args.split} responsibilities)"
        return teacher.responsibilities(x), f"{args.teacher} (recomputed on {args.split})"
    res = teacher_for(ds, witness_scale=config.witness.scale, latent_dim=config.model.latent_dim,
                      seed=config.teacher.seed, cache_dir=config.teacher.cache, config=search_config(config),
                      progress=True)
    return (res.T_train if args.split == "train" else res.T_test), f"default teacher {res.path or '(not cached)'}"


def run(args: argparse.Namespace) -> int:
    from empirical.experiments.certify import certify_codes, check_table, load_codes
    from empirical.io import atomic_write_json, library_versions

    experiment_config(args, uses=_USES)  # a bad or unused --set key fails first
    if (args.codes is None) == (args.checkpoint is None):
        raise ValueError("pass exactly one of --codes FILE or --checkpoint PATH")
    log_var = frame = None
    if args.checkpoint:
        enc = _encode_checkpoint(args.checkpoint, args.split)
        codes = np.asarray(enc["codes"], dtype=np.float64)
        T = np.asarray(enc["teacher"], dtype=np.float64)
        log_var = None if enc.get("log_var") is None else np.asarray(enc["log_var"], dtype=np.float64)
        frame = enc.get("frame")
        witness_scale = float(enc["witness_scale"])
        source = f"checkpoint {args.checkpoint}"
        default_out = Path(args.checkpoint).with_suffix("").as_posix() + f".{args.split}.certificate.json"
    else:
        codes = load_codes(args.codes)
        T, source = _teacher_rows(args, codes.shape[0])
        witness_scale = experiment_config(args, uses=_USES)[0].witness.scale
        default_out = Path(args.codes).with_suffix("").as_posix() + ".certificate.json"
    K = T.shape[1]
    if codes.shape[1] < K - 1:
        raise ValueError(f"codes have latent dimension d = {codes.shape[1]} < K-1 = {K - 1} of the teacher; "
                         "the witness needs d >= K-1 (use --set model.latent_dim=D to search a teacher with fewer outcomes)")
    result = certify_codes(T, codes, witness_scale, frame=frame, log_var=log_var)
    result.update(source=source, split=args.split, dataset=args.dataset, versions=library_versions())
    out = Path(args.out) if args.out else Path(default_out)
    atomic_write_json(out, result)

    print(f"teacher: {source}; codes: {codes.shape[0]} x {codes.shape[1]}, K = {K}, beta = {witness_scale:g}")
    print(f"I_T  = {result['I_T']:.6f} nats   (teacher information: the largest reachable margin)")
    print(f"L_TS = {result['L_TS']:.6f} nats   (teacher-witness alignment loss)")
    print(f"G_T  = {result['G_T']:.6f} nats   -> {result['verdict']} (float error bound {result['float_error']:.2g})")
    print(f"T8 size bound {result['size_bound']:.6f} (slack {result['size_bound_slack']:.6f}); "
          f"certified spread tr Cov(P^T mu) >= {result['certified_spread']:.6g}")
    print(check_table(result["checks"]))
    print(f"wrote {out}")
    return 0 if result["all_checks_hold"] else 1
