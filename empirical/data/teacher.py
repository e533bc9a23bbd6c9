"""The PCA-GMM teacher: a search over PCA views and Gaussian mixtures, and the chosen teacher.

A teacher (THEORY.md, "Setting") is a fixed posterior T(.|x) over K outcomes. Ours is the
responsibilities of a Gaussian mixture fitted on a PCA view of the training images, mixed
with a floor so that every row has full support (the exact code, its energy and the
margin-energy path need full support: T4, T5, T7):

    T = (1 - floor) R + floor / K,     R = GMM responsibilities on the PCA view.

The floor also bounds the log-odds: every entry is >= floor/K and <= 1, so each centred
log-odds |clr_k(T_i)| <= log(K/floor) and E_T <= K log(K/floor)^2. In practice the exact-code
energy of a confident teacher is set by the floor and K (about 1.2 nats for K = 10,
floor = 1e-2, beta = 4 on Fashion-MNIST).

Selection rule (ours; THEORY.md leaves the teacher open):

1. Only K <= max_K = latent_dim + 1 is searched: the witness needs d >= K - 1 (T3).
   The grid is also cut to the data's shape: PCA dimensions above min(D, fitting rows - 1)
   are dropped, and K is limited to (rows of one cross-validation fit) /
   ``min_rows_per_component`` (default 10 rows per component).
2. For each candidate compute, on the fitting rows (all training rows unless ``subsample``
   is set), I_T (teacher information), H(Tbar), E_T (log-odds energy) and the exact-code
   energy ((K-1)/(2 K beta^2)) E_T at the witness scale beta (T5), all with the
   ``witness_theory`` functions. (With a subsample, the chosen candidate's numbers are then
   recomputed on all training rows; if its energy there exceeds the budget, it drops out
   and the rule picks again, so the returned teacher is within budget on its own split.)
3. For each candidate within the energy budget (exact-code energy <= ``energy_budget``
   nats), the held-out teacher information I_T_heldout, measured one of two ways
   (``heldout``; "auto" picks the first when it applies):

   - "unused-rows": when ``subsample`` leaves at least 1,000 training rows out of the fit
     (Fashion-MNIST, MNIST, CIFAR), I_T of the candidate itself (PCA view and mixture as
     fitted) on up to ``heldout_rows`` of those rows, drawn with the same seeded generator
     after the subsample. Nothing about them entered the fit (not even the PCA view), and the
     model measured is the one that will be used; it costs one pass of responsibilities, no
     refit (on Fashion-MNIST the 2-fold refits below doubled the search's CPU time).
   - "cv": ``cv_folds``-fold cross-validation of the fitting rows (sklearn KFold, shuffled by
     the seed); the mixture is refitted on the other folds and I_T is computed on the
     floored responsibilities of the held-out fold, then averaged over folds. (Per fold, not
     pooled: component labels differ between folds. The PCA view is fitted once on all
     fitting rows, a mild leak we accept for speed.)
4. Among candidates within budget pick the one with the largest I_T_heldout
   (``selection="heldout"``, the default) or the largest training I_T (``selection="train"``,
   the rule of teacher format 1). Candidates within ``tie_tolerance`` nats of the best are
   tied; ties go to the smaller K, then to the lower BIC (on the PCA view of the fitting rows).
5. If no candidate is within budget, pick the one with the lowest exact-code energy and warn
   (:class:`TeacherBudgetWarning`). If the chosen teacher's I_T exceeds its held-out I_T by
   more than ``gap_warning`` nats, warn (:class:`TeacherGeneralisationWarning`).

Why: I_T is the largest certificate margin any encoder can reach (T2), and the exact-code
energy is the least mean KL an encoder with zero alignment error must pay (T5); the budget
keeps that price bounded while the information is maximised. The information that counts is
the one the teacher keeps on rows it has not seen: a teacher chosen by its training I_T picks
the largest K the budget allows whatever the sample size (on 142 rows, K = 14 fell from
2.39 nats on train to 1.46 on test), and models certified against it on the training split
were not certified on the test split.

Fitting on large data sets: PCA and the GMM are fitted on a fixed-seed subsample of the
training split (``subsample`` rows, drawn with ``numpy.random.default_rng(random_state)``,
without replacement); responsibilities and every reported quantity are then computed on all
rows. All fitting and all responsibilities run with one BLAS thread (``threadpoolctl``):
on the shared 2-core machine this is ~5x faster than two contended threads, and it makes the
floating-point results independent of the host's thread count (same seed -> same teacher).
The EM fits of the grid run in parallel processes instead (joblib, ``n_jobs``), each seeded,
so the teacher does not depend on the number of workers.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

import witness_theory as wt
from empirical.config import (
    CACHE_ENV_VAR,
    COVARIANCE_TYPES,
    HELDOUT_MODES,
    LATENT_DIM,
    SELECTIONS,
    USER_CACHE,
    WITNESS_SCALE,
    TeacherConfig,
    teacher_cache_dir,
)
from empirical.io import (
    atomic_save_verified_npz,
    library_versions,
    read_array_file,
    run_name,
    scalar_field,
    to_jsonable,
    verify_content,
)

__all__ = [
    "TeacherConfig", "TeacherSearch", "FittedTeacher", "USER_CACHE", "CACHE_ENV_VAR", "teacher_cache_dir",
    "TeacherResult", "teacher_for", "select_teacher", "apply_floor", "TeacherBudgetWarning",
    "report_markdown", "config_hash", "load_teacher_file", "TeacherGeneralisationWarning",
]

#: Bumped whenever the saved teacher file layout or the search procedure changes, so stale
#: cached teachers are never reused.
TEACHER_FORMAT_VERSION = 2  # 2: held-out selection, adaptive grid

#: Rows projected per BLAS call. Fixed, so that a row's PCA coordinates are computed by the
#: same sequence of operations at fit time and after reload (bit-identical responsibilities).
_CHUNK_ROWS = 8192



class TeacherBudgetWarning(UserWarning):
    """No candidate teacher's exact-code energy is within the energy budget."""


class TeacherGeneralisationWarning(UserWarning):
    """The chosen teacher's training I_T exceeds its held-out I_T by more than ``gap_warning``."""


# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------

_DEFAULT = TeacherConfig()
_MIN_UNUSED_ROWS = 1_000   # heldout="auto" measures on unused rows only when a subsample leaves this many


def config_hash(payload: dict) -> str:
    """First 16 hex digits of the SHA-256 of a JSON payload (sorted keys)."""
    text = json.dumps(to_jsonable(payload), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------------------------------
# Responsibilities: one code path for fitting and for reloaded teachers
# ---------------------------------------------------------------------------------------

def apply_floor(resp: np.ndarray, floor: float) -> np.ndarray:
    """T = (1 - floor) R + floor / K: full support with every entry >= floor / K."""
    K = resp.shape[1]
    return (1.0 - floor) * resp + floor / K


def _pca_project(X, mean: np.ndarray, components: np.ndarray, explained_variance: np.ndarray,
                 whiten: bool) -> np.ndarray:
    """PCA view (N, p) in float64: (x - mean) C^T [/ sqrt(explained variance) if whitened]
    (the transform of sklearn.decomposition.PCA), in fixed chunks of rows."""
    X = np.asarray(X)
    out = np.empty((X.shape[0], components.shape[0]))
    for start in range(0, X.shape[0], _CHUNK_ROWS):
        block = X[start:start + _CHUNK_ROWS].astype(np.float64) - mean    # (B, D)
        out[start:start + _CHUNK_ROWS] = block @ components.T            # (B, p)
    if whiten:
        out /= np.sqrt(explained_variance)
    return out


def _gmm_from_arrays(weights, means, covariances, precisions_cholesky, covariance_type: str):
    """A fitted sklearn GaussianMixture rebuilt from its parameter arrays.

    ``predict_proba`` reads only weights_, means_ and precisions_cholesky_; the covariances
    are kept so the object is complete (and saved for users of the file)."""
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(n_components=int(weights.shape[0]), covariance_type=covariance_type)
    gmm.weights_ = weights
    gmm.means_ = means
    gmm.covariances_ = covariances
    gmm.precisions_cholesky_ = precisions_cholesky
    if covariance_type == "full":
        gmm.precisions_ = np.einsum("kij,klj->kil", precisions_cholesky, precisions_cholesky)
    elif covariance_type == "tied":
        gmm.precisions_ = precisions_cholesky @ precisions_cholesky.T
    else:
        gmm.precisions_ = precisions_cholesky ** 2
    gmm.converged_ = True
    gmm.n_iter_ = 0
    gmm.lower_bound_ = np.nan
    gmm.n_features_in_ = int(means.shape[1])
    return gmm


def _responsibilities_from_view(gmm, Z: np.ndarray, floor: float) -> np.ndarray:
    with threadpool_limits(1):
        resp = gmm.predict_proba(Z)                                       # (N, K)
    return apply_floor(np.asarray(resp, dtype=np.float64), floor)


class FittedTeacher:
    """The chosen teacher: a PCA view, a Gaussian mixture on it and the floor.

    ``responsibilities(X)`` returns float64 (N, K) rows with full support. ``save`` writes
    every array needed to recompute them (plus, optionally, the train/test responsibilities
    and a metadata dict) to one ``.npz`` file, atomically; ``load`` reproduces the stored
    responsibilities bit for bit.
    """

    def __init__(self, *, pca_mean, pca_components, pca_explained_variance, whiten: bool,
                 weights, means, covariances, precisions_cholesky, covariance_type: str,
                 floor: float, T_train=None, T_test=None, metadata: dict | None = None):
        f64 = lambda a: np.ascontiguousarray(np.asarray(a, dtype=np.float64))  # noqa: E731
        self.pca_mean = f64(pca_mean)                       # (D,)
        self.pca_components = f64(pca_components)           # (p, D)
        self.pca_explained_variance = f64(pca_explained_variance)  # (p,)
        self.whiten = bool(whiten)
        self.weights = f64(weights)                         # (K,)
        self.means = f64(means)                             # (K, p)
        self.covariances = f64(covariances)
        self.precisions_cholesky = f64(precisions_cholesky)
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")
        self.covariance_type = str(covariance_type)
        self.floor = float(floor)
        if not 0.0 < self.floor < 1.0:
            raise ValueError(f"floor must be in (0, 1) so every teacher row has full support, got {floor!r}")
        self.T_train = None if T_train is None else np.asarray(T_train, dtype=np.float64)
        self.T_test = None if T_test is None else np.asarray(T_test, dtype=np.float64)
        self.metadata = dict(metadata or {})
        self._gmm = _gmm_from_arrays(self.weights, self.means, self.covariances,
                                     self.precisions_cholesky, self.covariance_type)

    @property
    def K(self) -> int:
        return int(self.weights.shape[0])

    @property
    def pca_dim(self) -> int:
        return int(self.pca_components.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.pca_mean.shape[0])

    #: The arrays that define the teacher's function x -> T(.|x), in hashing order.
    _HASHED = ("pca_mean", "pca_components", "pca_explained_variance", "whiten", "weights", "means",
               "covariances", "precisions_cholesky", "covariance_type", "floor")

    @property
    def content_hash(self) -> str:
        """SHA-256 (64 hex digits) of the arrays that define the teacher's responsibilities.

        Covers the PCA view (mean, components, explained variance, whitening), the mixture
        (weights, means, covariances, precision Cholesky factors, covariance type) and the
        floor, each hashed with its name, dtype and shape, in float64 C order; not the stored
        T_train/T_test or the metadata (they describe a data split, not the teacher). Equal
        before ``save`` and after ``load`` (the arrays round-trip bit for bit), so a checkpoint
        or result that stores it can be refused against any other teacher.
        """
        h = hashlib.sha256(b"witness-theory FittedTeacher v1\n")
        for name in self._HASHED:
            value = getattr(self, name)
            a = np.ascontiguousarray(np.asarray(value, dtype=np.float64)) if not isinstance(value, str) \
                else np.frombuffer(value.encode("utf-8"), dtype=np.uint8)
            h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
            h.update(a.tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        return (f"FittedTeacher(K={self.K}, pca_dim={self.pca_dim}, covariance_type={self.covariance_type!r}, "
                f"floor={self.floor}, n_features={self.n_features})")

    def transform(self, X) -> np.ndarray:
        """The PCA view (N, p) float64."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must be (N, {self.n_features}) (flattened images of the teacher's data set), "
                             f"got shape {X.shape}")
        with threadpool_limits(1):
            return _pca_project(X, self.pca_mean, self.pca_components, self.pca_explained_variance, self.whiten)

    def responsibilities(self, X) -> np.ndarray:
        """Floored GMM responsibilities T = (1 - floor) R + floor / K: float64 (N, K), full support."""
        return _responsibilities_from_view(self._gmm, self.transform(X), self.floor)

    # -- persistence ---------------------------------------------------------------------

    def save(self, path: str | Path, *, T_train=None, T_test=None, metadata: dict | None = None) -> Path:
        """Write one ``.npz`` atomically (no pickles). ``T_train``/``T_test``/``metadata``
        default to the ones this teacher carries."""
        T_train = self.T_train if T_train is None else T_train
        T_test = self.T_test if T_test is None else T_test
        metadata = self.metadata if metadata is None else metadata
        arrays = dict(
            format_version=np.array(TEACHER_FORMAT_VERSION),
            pca_mean=self.pca_mean, pca_components=self.pca_components,
            pca_explained_variance=self.pca_explained_variance, pca_whiten=np.array(self.whiten),
            gmm_weights=self.weights, gmm_means=self.means, gmm_covariances=self.covariances,
            gmm_precisions_cholesky=self.precisions_cholesky,
            gmm_covariance_type=np.array(self.covariance_type), floor=np.array(self.floor),
            metadata=np.array(json.dumps(to_jsonable(metadata))),
        )
        if T_train is not None:
            arrays["T_train"] = np.asarray(T_train, dtype=np.float64)
        if T_test is not None:
            arrays["T_test"] = np.asarray(T_test, dtype=np.float64)
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"teacher path must end in .npz, got {str(path)!r}")
        return atomic_save_verified_npz(path, **arrays)   # records the SHA-256 of every array

    @classmethod
    def load(cls, path: str | Path) -> FittedTeacher:
        """Read a teacher written by :meth:`save` (every broken file is a one-line ValueError)."""

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"teacher file {str(path)!r} does not exist; create it with "
                                    "`python -m empirical teacher --dataset NAME`")
        data = read_array_file(path, "teacher")
        where = f"teacher file {str(path)!r}"
        if not isinstance(data, dict):
            raise ValueError(f"{where} is a bare .npy array, not a teacher file; pass the "
                             "teacher.npz written by `python -m empirical teacher`")
        required = ("format_version", "pca_mean", "pca_components", "pca_explained_variance", "pca_whiten",
                    "gmm_weights", "gmm_means", "gmm_covariances", "gmm_precisions_cholesky",
                    "gmm_covariance_type", "floor", "metadata")
        missing = [k for k in required if k not in data]
        if missing:
            raise ValueError(f"{str(path)!r} is not a teacher file: missing arrays {missing}")
        # every array (the teacher's parameters and the stored T_train/T_test) against its SHA-256;
        # a file from before the hash is read with an UnverifiedFileWarning (its T rows are still
        # checked against the recomputed responsibilities by load_teacher_file)
        verify_content(data, where)
        version = scalar_field(data, "format_version", where, "integer")
        if version != TEACHER_FORMAT_VERSION:
            raise ValueError(f"{str(path)!r} has teacher format {version}, this code reads "
                             f"{TEACHER_FORMAT_VERSION}; re-run the teacher search")
        for key, kind in (("pca_whiten", "bool"), ("gmm_covariance_type", "text"), ("floor", "real"),
                          ("metadata", "text")):
            scalar_field(data, key, where, kind)
        for key in ("pca_mean", "pca_components", "pca_explained_variance", "gmm_weights", "gmm_means",
                    "gmm_covariances", "gmm_precisions_cholesky", "T_train", "T_test"):
            if key in data and data[key].dtype.kind not in "iuf":
                raise ValueError(f"{where}: array {key!r} must hold real numbers, got {data[key].dtype}; "
                                 "make the teacher again")
        try:
            metadata = json.loads(str(data["metadata"]))
        except json.JSONDecodeError as exc:
            raise ValueError(f"teacher file {str(path)!r}: metadata is not valid JSON ({exc})") from None
        try:
            return cls(pca_mean=data["pca_mean"], pca_components=data["pca_components"],
                   pca_explained_variance=data["pca_explained_variance"], whiten=bool(data["pca_whiten"]),
                   weights=data["gmm_weights"], means=data["gmm_means"], covariances=data["gmm_covariances"],
                   precisions_cholesky=data["gmm_precisions_cholesky"],
                   covariance_type=str(data["gmm_covariance_type"]), floor=float(data["floor"]),
                   T_train=data.get("T_train"), T_test=data.get("T_test"), metadata=metadata)
        except (ValueError, TypeError, IndexError, np.linalg.LinAlgError) as exc:
            raise ValueError(f"teacher file {str(path)!r}: inconsistent teacher arrays ({exc})") from None


def load_teacher_file(path: str | Path, dataset, *, check_rows: int | None = None) -> FittedTeacher:
    """Load a teacher file (the ``teacher`` command's ``teacher.npz``) for ``dataset`` and check it fits.

    Checks, each a ``ValueError`` naming the file: the teacher's number of input features
    equals ``dataset.n_features``; stored ``T_train``/``T_test`` (if present) have one row per
    row of the data set's train/test split and are probability rows with K columns; and the
    stored responsibilities of every row (``check_rows``: only the first that many) of each
    split equal the teacher's recomputed ones (within 1e-9), so a teacher made for another
    split, seed or scaling of the same shape is refused, and so is a file whose stored rows
    were edited (the file's content hash, :meth:`FittedTeacher.load`, catches that first when
    the file has one). Use ``teacher.content_hash`` to tie runs to it.
    """
    path = Path(path)
    teacher = FittedTeacher.load(path)
    name = getattr(dataset, "name", "the data set")
    if teacher.n_features != dataset.n_features:
        raise ValueError(f"teacher file {str(path)!r} was fitted on {teacher.n_features} features but data set "
                         f"{name!r} has {dataset.n_features}; pass a teacher made for this data set "
                         f"(`python -m empirical teacher --dataset ...`)")
    for split, T, x in (("train", teacher.T_train, dataset.x_train), ("test", teacher.T_test, dataset.x_test)):
        if T is None:
            continue
        if T.ndim != 2 or T.shape[1] != teacher.K:
            raise ValueError(f"teacher file {str(path)!r}: stored T_{split} has shape {T.shape}, expected "
                             f"(N, {teacher.K}) probability rows")
        if T.shape[0] != x.shape[0]:
            raise ValueError(f"teacher file {str(path)!r} stores T_{split} for {T.shape[0]} rows but the {split} "
                             f"split of {name!r} has {x.shape[0]}; the teacher was made for another split "
                             "(seed, test fraction or limit): make it again for this data set")
        n = x.shape[0] if check_rows is None else min(int(check_rows), x.shape[0])
        if not n:
            continue
        recomputed = teacher.responsibilities(x[:n])     # (n, K), in chunks: linear in n
        bad = np.flatnonzero(~np.all(np.abs(recomputed - T[:n]) <= 1e-9, axis=1))
        if bad.size:
            raise ValueError(f"teacher file {str(path)!r}: its stored T_{split} does not match the teacher's "
                             f"responsibilities on {bad.size} of the {n} {split} rows of {name!r} (first: row "
                             f"{bad[0]}): the teacher was made for other rows (another split seed or scaling) "
                             "or the file was edited; make it again for this data set")
    return teacher


# ---------------------------------------------------------------------------------------
# Selection rule
# ---------------------------------------------------------------------------------------

def select_teacher(report: Sequence[dict], energy_budget: float,
                   tie_tolerance: float = 1e-3, *, key: str = "I_T") -> tuple[int, bool]:
    """Index of the chosen candidate and whether it is within the energy budget.

    ``report`` rows need keys ``key`` (I_T, or I_T_heldout for the held-out rule), K, bic,
    exact_code_energy. The rule is the one in the module docstring: max ``key`` among
    candidates within budget (ties within ``tie_tolerance``: smaller K, then lower BIC); if
    none is within budget, the lowest exact-code energy.
    """
    if not report:
        raise ValueError("no candidate teachers to select from")
    within = [i for i, r in enumerate(report) if r["exact_code_energy"] <= energy_budget]
    if not within:
        return min(range(len(report)), key=lambda i: (report[i]["exact_code_energy"], report[i]["K"])), False
    best = max(report[i][key] for i in within)
    tied = [i for i in within if report[i][key] >= best - tie_tolerance]
    return min(tied, key=lambda i: (report[i]["K"], report[i]["bic"])), True


# ---------------------------------------------------------------------------------------
# The search estimator
# ---------------------------------------------------------------------------------------

def _check_positive_ints(values, name: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of positive integers, got {values!r}") from None
    if not out or any(v < 1 for v in out) or any(int(v) != v for v in values):
        raise ValueError(f"{name} must be a non-empty sequence of positive integers, got {values!r}")
    return out


def _fit_gmm(Z_fit: np.ndarray, k: int, cov: str, random_state: int, max_iter: int, tol: float,
             reg_covar: float):
    """One EM fit with one BLAS thread (runs in a joblib worker); returns the fitted mixture and seconds."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    t0 = time.process_time()  # CPU seconds of this (single-threaded) fit: comparable on a shared machine
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded as converged=False
        gmm = GaussianMixture(n_components=k, covariance_type=cov, max_iter=max_iter, tol=tol,
                              reg_covar=reg_covar, random_state=random_state).fit(Z_fit)
    return gmm, time.process_time() - t0


def _full_task(Z_fit, k, cov, rs, max_iter, tol, reg_covar, floor, latent_dim, witness_scale):
    """Fit on the fitting rows and compute the candidate's report numbers on them (in the
    worker, so every candidate's responsibilities are computed in parallel too)."""
    gmm, seconds = _fit_gmm(Z_fit, k, cov, rs, max_iter, tol, reg_covar)
    with threadpool_limits(1):
        bic = float(gmm.bic(Z_fit))
    model = _gmm_from_arrays(gmm.weights_, gmm.means_, gmm.covariances_, gmm.precisions_cholesky_, cov)
    T = _responsibilities_from_view(model, Z_fit, floor)
    witness = wt.Witness(k, latent_dim, witness_scale)
    metrics = dict(I_T=wt.teacher_information(T), H_Tbar=float(wt.entropy(wt.teacher_marginal(T))[0]),
                   E_T=wt.logodds_energy(T), exact_code_energy=wt.exact_code_energy(T, witness))
    return ("full", gmm, bic, seconds, metrics)


def _fold_task(Z_fit, train_rows, heldout_rows, k, cov, rs, max_iter, tol, reg_covar, floor):
    """Held-out teacher information of one fold: fit on ``train_rows``, I_T of the floored
    responsibilities of ``heldout_rows`` (THEORY.md I_T = H(Tbar) - mean_i H(T_i), wt.teacher_information)."""
    gmm, seconds = _fit_gmm(Z_fit[train_rows], k, cov, rs, max_iter, tol, reg_covar)
    T = _responsibilities_from_view(gmm, Z_fit[heldout_rows], floor)
    return ("fold", wt.teacher_information(T), seconds)


class TeacherSearch(BaseEstimator):
    """Grid search of PCA-GMM teachers (scikit-learn estimator; the rule is in the module docstring).

    ``fit(X)`` takes the training images (N, D) and sets:

    - ``report_``: one dict per candidate (K, pca_dim, covariance_type, seed, random_state,
      I_T, I_T_heldout, I_T_gap, H_Tbar, E_T, exact_code_energy, within_budget, bic,
      fit_time_s, converged, n_iter, chosen); I_T, H_Tbar, E_T and the energy on the full
      training split, I_T_heldout on unused training rows or the mean over ``cv_folds`` folds
      of the fitting rows (``heldout_method_`` says which; ``heldout_indices_`` the unused rows);
    - ``best_index_``, ``within_budget_``; ``teacher_`` (:class:`FittedTeacher`);
      ``T_train_`` = ``teacher_.responsibilities(X)``; ``skipped_K_`` (grid values above max_K
      or the row limit); ``grid_`` (the pca_dims and K actually searched) and
      ``grid_notes_`` (why the grid was cut); ``fit_indices_`` (the rows used to fit PCA and
      the GMM); ``search_time_s_``.

    The grid adapts to the data's shape: PCA dimensions above min(D, fitting rows - 1) are
    dropped (that limit is added if any were dropped), and K is limited to the rows of one
    CV fit divided by ``min_rows_per_component`` (and to latent_dim + 1). ``n_jobs`` runs
    the EM fits in parallel (joblib processes, one BLAS thread each; -1: all cores); every fit
    is seeded, so the teacher does not depend on ``n_jobs``.
    """

    # Defaults are TeacherConfig's (one place); sklearn needs them spelled in the signature.
    def __init__(self, pca_dims=_DEFAULT.pca_dims, n_components=_DEFAULT.n_components,
                 covariance_types=_DEFAULT.covariance_types, seeds=_DEFAULT.seeds, floor=_DEFAULT.floor,
                 energy_budget=_DEFAULT.energy_budget, tie_tolerance=_DEFAULT.tie_tolerance,
                 witness_scale=_DEFAULT.witness_scale, latent_dim=_DEFAULT.latent_dim, max_K=_DEFAULT.max_K,
                 max_iter=_DEFAULT.max_iter, tol=_DEFAULT.tol, reg_covar=_DEFAULT.reg_covar,
                 subsample=_DEFAULT.subsample, whiten=_DEFAULT.whiten, selection=_DEFAULT.selection,
                 cv_folds=_DEFAULT.cv_folds, heldout=_DEFAULT.heldout, heldout_rows=_DEFAULT.heldout_rows,
                 min_rows_per_component=_DEFAULT.min_rows_per_component,
                 gap_warning=_DEFAULT.gap_warning, random_state=0, progress=False, n_jobs=-1):
        self.pca_dims = pca_dims
        self.n_components = n_components
        self.covariance_types = covariance_types
        self.seeds = seeds
        self.floor = floor
        self.energy_budget = energy_budget
        self.tie_tolerance = tie_tolerance
        self.witness_scale = witness_scale
        self.latent_dim = latent_dim
        self.max_K = max_K
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.subsample = subsample
        self.whiten = whiten
        self.selection = selection
        self.cv_folds = cv_folds
        self.heldout = heldout
        self.heldout_rows = heldout_rows
        self.min_rows_per_component = min_rows_per_component
        self.gap_warning = gap_warning
        self.random_state = random_state
        self.progress = progress
        self.n_jobs = n_jobs

    @classmethod
    def from_config(cls, config: TeacherConfig, random_state: int = 0, progress: bool = False,
                    n_jobs: int = -1) -> TeacherSearch:
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)},
                   random_state=random_state, progress=progress, n_jobs=n_jobs)

    def _heldout_mode(self, n_unused: int) -> str:
        """"unused-rows" or "cv" (see the module docstring, step 3)."""
        if self.heldout not in HELDOUT_MODES:
            raise ValueError(f"heldout must be 'auto', 'cv' or 'unused-rows', got {self.heldout!r}")
        if int(self.heldout_rows) < 1:
            raise ValueError(f"heldout_rows must be an integer >= 1, got {self.heldout_rows!r}")
        if self.heldout == "unused-rows" and n_unused < 1:
            raise ValueError("heldout='unused-rows' needs a subsample smaller than the training split "
                             "(set subsample, or use heldout='cv')")
        if self.heldout == "auto":
            return "unused-rows" if n_unused >= _MIN_UNUSED_ROWS else "cv"
        return str(self.heldout)

    def _validated(self, X: np.ndarray, n_fit: int, mode: str = "cv"):
        pca_dims = _check_positive_ints(self.pca_dims, "pca_dims")
        ks = _check_positive_ints(self.n_components, "n_components")
        seeds = tuple(int(s) for s in self.seeds)
        if not seeds:
            raise ValueError("seeds must be a non-empty sequence of integers")
        cov = tuple(self.covariance_types)
        bad = [c for c in cov if c not in COVARIANCE_TYPES]
        if not cov or bad:
            raise ValueError(f"covariance_types must be a non-empty subset of {COVARIANCE_TYPES}, got {cov!r}")
        if not 0.0 < float(self.floor) < 1.0:
            raise ValueError(f"floor must be in (0, 1) so every teacher row has full support, got {self.floor!r}")
        wt.Witness(2, 1, self.witness_scale)  # validates the scale (ValueError names witness_scale)
        d = int(self.latent_dim)
        if d < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim!r}")
        max_K = d + 1 if self.max_K is None else int(self.max_K)
        if max_K > d + 1:
            raise ValueError(f"max_K = {max_K} exceeds latent_dim + 1 = {d + 1}; the witness needs d >= K-1 "
                             "(lower max_K or raise latent_dim)")
        if any(k < 2 for k in ks):
            raise ValueError(f"n_components must all be >= 2 (a teacher needs K >= 2 outcomes), got {ks!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be 'heldout' (max cross-validated I_T) or 'train', got {self.selection!r}")
        folds = int(self.cv_folds)
        if folds < 2:
            raise ValueError(f"cv_folds must be >= 2, got {self.cv_folds!r}")
        if int(self.min_rows_per_component) < 1:
            raise ValueError(f"min_rows_per_component must be >= 1, got {self.min_rows_per_component!r}")
        if self.subsample is not None and int(self.subsample) < 2:
            raise ValueError(f"subsample must be None or an integer >= 2, got {self.subsample!r}")
        if float(self.energy_budget) <= 0:
            raise ValueError(f"energy_budget must be > 0 nats, got {self.energy_budget!r}")
        notes = []
        # PCA: at most min(D, rows - 1) informative directions (centred data has rank <= rows - 1).
        p_limit = max(1, min(X.shape[1], n_fit - 1))
        kept_p = tuple(p for p in pca_dims if p <= p_limit)
        if len(kept_p) < len(pca_dims):
            kept_p = tuple(sorted(set(kept_p) | {p_limit}))
            notes.append(f"pca_dims {pca_dims} cut to {kept_p}: the data have {X.shape[1]} features and "
                         f"{n_fit} fitting rows")
        # K: latent dimension (T3) and rows per component of the smallest fit (one CV training part).
        rows_per_fit = n_fit - -(-n_fit // folds) if self.selection == "heldout" and mode == "cv" else n_fit
        k_rows = rows_per_fit // int(self.min_rows_per_component)
        k_limit = min(max_K, k_rows)
        kept = tuple(k for k in ks if k <= k_limit)
        if not any(k <= max_K for k in ks):
            raise ValueError(f"every K in n_components {ks!r} exceeds max_K = {max_K} (latent_dim + 1); "
                             "add smaller K to the grid")
        if k_limit < 2:
            raise ValueError(f"{n_fit} fitting rows are too few for a teacher: with {folds} CV folds and "
                             f"min_rows_per_component = {self.min_rows_per_component} not even K = 2 fits "
                             "(lower min_rows_per_component or cv_folds, or use more rows)")
        if k_rows < max(k for k in ks if k <= max_K):
            if not kept:
                kept = (k_limit,)
            notes.append(f"K limited to <= {k_limit}: {rows_per_fit} rows per fit / "
                         f"min_rows_per_component {self.min_rows_per_component}")
        skipped = tuple(k for k in ks if k not in kept)
        return kept_p, kept, skipped, cov, seeds, max_K, folds, notes

    def fit(self, X, y=None):
        """Run the grid on training images X (N, D); ``y`` is ignored (the teacher is unsupervised)."""
        from joblib import Parallel, delayed
        from sklearn.decomposition import PCA
        from sklearn.model_selection import KFold
        from tqdm.auto import tqdm

        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ValueError(f"X must be a 2-D array (N, D) of flattened images with N >= 2, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values; clean the data first")
        t_start = time.perf_counter()
        N = X.shape[0]
        rng = np.random.default_rng(int(self.random_state))
        if self.subsample is not None and int(self.subsample) < N:
            fit_idx = np.sort(rng.choice(N, size=int(self.subsample), replace=False))
        else:
            fit_idx = np.arange(N)
        mode = self._heldout_mode(N - fit_idx.size)
        heldout = self.selection == "heldout"
        val_idx = np.empty(0, dtype=np.intp)
        if heldout and mode == "unused-rows":   # drawn after the subsample: the subsample is unchanged
            unused = np.setdiff1d(np.arange(N), fit_idx)
            val_idx = np.sort(rng.choice(unused, size=min(int(self.heldout_rows), unused.size), replace=False))
        pca_dims, ks, skipped, cov_types, seeds, _, folds, notes = self._validated(X, fit_idx.size, mode)
        for note in notes:
            warnings.warn(f"teacher grid adapted to the data: {note}", UserWarning, stacklevel=2)
        p_max = max(pca_dims)
        with threadpool_limits(1):
            pca = PCA(n_components=p_max, random_state=int(self.random_state))
            pca.fit(X[fit_idx].astype(np.float64))
        views = {}  # p -> (mean, components, explained variance, Z of the fitting rows (n_fit, p))
        for p in sorted(set(pca_dims)):
            comps = np.ascontiguousarray(pca.components_[:p])
            ev = np.ascontiguousarray(pca.explained_variance_[:p])
            with threadpool_limits(1):
                Z = _pca_project(X[fit_idx], pca.mean_, comps, ev, bool(self.whiten))
            views[p] = (pca.mean_, comps, ev, Z)
        val_views = {}  # p -> the PCA view of the unused held-out rows ("unused-rows" only)
        if val_idx.size:
            with threadpool_limits(1):
                val_views = {p: _pca_project(X[val_idx], *views[p][:3], bool(self.whiten)) for p in views}
        # Folds of the fitting rows (the PCA view is fitted on all of them: a mild, documented leak).
        splits = list(KFold(n_splits=folds, shuffle=True, random_state=int(self.random_state)).split(fit_idx))
        # (indices into the fitting rows)
        cv = heldout and mode == "cv"

        grid = [(p, k, c, s) for p in pca_dims for k in ks for c in cov_types for s in seeds]
        fit_args = (int(self.max_iter), float(self.tol), float(self.reg_covar))
        seeds_of = [int(np.random.SeedSequence([int(self.random_state), s]).generate_state(1)[0])
                    for (_, _, _, s) in grid]
        # Costliest fits first (full covariance, large K and p) so the workers finish together.
        cost = [p * p * k * (4 if c == "full" else 1) for (p, k, c, _) in grid]
        n_jobs = 1 if len(grid) < 4 else self.n_jobs  # a pool costs more than a handful of small fits
        bar = tqdm(total=len(grid) * (1 + (folds if cv else 0)), desc="teacher search",
                   disable=not self.progress, leave=False)

        def run(parallel, tasks, weights):
            if not tasks:
                return []
            order = sorted(range(len(tasks)), key=lambda i: -weights[i])
            outputs = [None] * len(tasks)
            for i, out in zip(order, parallel(tasks[i] for i in order)):
                outputs[i] = out
                bar.update(1)
            return outputs

        with Parallel(n_jobs=n_jobs, return_as="generator") as parallel:
            # Stage 1: every candidate on all fitting rows: BIC, I_T, H(Tbar), E_T, exact-code energy.
            full = run(parallel, [delayed(_full_task)(views[p][3], k, c, seeds_of[j], *fit_args,
                                                      float(self.floor), int(self.latent_dim),
                                                      float(self.witness_scale))
                                  for j, (p, k, c, s) in enumerate(grid)], cost)
            budget = float(self.energy_budget)
            eligible = [j for j in range(len(grid)) if full[j][4]["exact_code_energy"] <= budget]
            # Stage 2: held-out I_T (K-fold CV of the fitting rows) only for candidates the rule
            # can choose (within the energy budget); the others cannot win and are not refitted.
            fold_jobs = [(j, tr, te) for j in (eligible if cv else []) for tr, te in splits]
            folds_out = run(parallel, [delayed(_fold_task)(views[grid[j][0]][3], tr, te, grid[j][1],
                                                           grid[j][2], seeds_of[j], *fit_args, float(self.floor))
                                       for j, tr, te in fold_jobs], [cost[j] for j, _, _ in fold_jobs])
        bar.close()

        report: list[dict[str, Any]] = []
        models: list[Any] = []
        for j, (p, k, c, s) in enumerate(grid):
            _, gmm, bic, fit_time, metrics = full[j]
            mine = [o for (jj, _, _), o in zip(fold_jobs, folds_out) if jj == j]
            fold_I = [o[1] for o in mine]
            I_T = metrics["I_T"]
            I_held = float(np.mean(fold_I)) if fold_I else None
            if heldout and not cv and j in eligible:
                # I_T of this very candidate on unused training rows (step 3, "unused-rows")
                model = _gmm_from_arrays(gmm.weights_, gmm.means_, gmm.covariances_, gmm.precisions_cholesky_, c)
                I_held = wt.teacher_information(_responsibilities_from_view(model, val_views[p], float(self.floor)))
            report.append(dict(
                index=len(report), K=k, pca_dim=p, covariance_type=c, seed=s, random_state=seeds_of[j],
                I_T=I_T, I_T_heldout=I_held, I_T_gap=None if I_held is None else I_T - I_held,
                I_T_heldout_folds=fold_I, H_Tbar=metrics["H_Tbar"], log_K=float(np.log(k)), E_T=metrics["E_T"],
                exact_code_energy=metrics["exact_code_energy"], within_budget=None, bic=bic,
                fit_time_s=fit_time + sum(o[2] for o in mine),
                converged=bool(gmm.converged_), n_iter=int(gmm.n_iter_), chosen=False))
            report[-1]["within_budget"] = bool(report[-1]["exact_code_energy"] <= budget)
            models.append(gmm)

        def build(j: int) -> FittedTeacher:
            gmm = models[j]
            mean, comps, ev, _ = views[report[j]["pca_dim"]]
            return FittedTeacher(
                pca_mean=mean, pca_components=comps, pca_explained_variance=ev, whiten=bool(self.whiten),
                weights=gmm.weights_, means=gmm.means_, covariances=gmm.covariances_,
                precisions_cholesky=gmm.precisions_cholesky_, covariance_type=report[j]["covariance_type"],
                floor=float(self.floor))

        for r in report:
            r["metrics_on"] = "fitting rows" if fit_idx.size < N else "all training rows"
        key = "I_T_heldout" if heldout else "I_T"
        while True:
            best, within = select_teacher(report, budget, float(self.tie_tolerance), key=key)
            teacher = build(best)
            T_train = teacher.responsibilities(X)
            if fit_idx.size == N:
                break
            # With a subsample, the chosen teacher's numbers are recomputed on all training rows;
            # if its energy there exceeds the budget it is out, and the rule picks again.
            r = report[best]
            witness = wt.Witness(r["K"], int(self.latent_dim), float(self.witness_scale))
            r.update(I_T=wt.teacher_information(T_train), H_Tbar=float(wt.entropy(wt.teacher_marginal(T_train))[0]),
                     E_T=wt.logodds_energy(T_train), exact_code_energy=wt.exact_code_energy(T_train, witness),
                     metrics_on="all training rows")
            r["within_budget"] = bool(r["exact_code_energy"] <= budget)
            if r["I_T_heldout"] is not None:
                r["I_T_gap"] = r["I_T"] - r["I_T_heldout"]
            if r["within_budget"] or not within:
                break
        report[best]["chosen"] = True
        if not within:
            warnings.warn(
                f"no candidate teacher has exact-code energy <= energy_budget = {self.energy_budget} nats "
                f"(lowest: {report[best]['exact_code_energy']:.4g}); chose the lowest-energy candidate "
                f"(K={report[best]['K']}). Raise energy_budget or floor, or add smaller K.",
                TeacherBudgetWarning, stacklevel=2)
        chosen = report[best]
        if chosen["I_T_gap"] is not None and chosen["I_T_gap"] > float(self.gap_warning):
            warnings.warn(
                f"the chosen teacher (K={chosen['K']}, pca_dim={chosen['pca_dim']}) has I_T = {chosen['I_T']:.3f} "
                f"nats on the training rows but {chosen['I_T_heldout']:.3f} on held-out rows (gap "
                f"{chosen['I_T_gap']:.3f} > gap_warning = {self.gap_warning}): it may not generalise to the test "
                "split; use more rows, smaller K or pca_dims, or covariance_types=('diag',)",
                TeacherGeneralisationWarning, stacklevel=2)
        self.teacher_ = teacher
        self.T_train_ = T_train
        self.report_ = report
        self.best_index_ = best
        self.within_budget_ = within
        self.skipped_K_ = skipped
        self.grid_ = {"pca_dims": list(pca_dims), "n_components": list(ks)}
        self.grid_notes_ = notes
        self.fit_indices_ = fit_idx
        self.heldout_indices_ = val_idx
        self.heldout_method_ = (f"I_T on {val_idx.size} unused training rows" if heldout and not cv else
                                f"{folds}-fold CV of the fitting rows" if heldout else "none (selection='train')")
        self.pca_ = pca
        self.search_time_s_ = time.perf_counter() - t_start
        return self


# ---------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------

_REPORT_COLUMNS = (("", "chosen"), ("K", "K"), ("PCA dim", "pca_dim"), ("cov", "covariance_type"),
                   ("seed", "seed"), ("I_T", "I_T"), ("I_T held-out", "I_T_heldout"), ("gap", "I_T_gap"),
                   ("H(Tbar)", "H_Tbar"), ("E_T", "E_T"),
                   ("exact-code energy", "exact_code_energy"), ("in budget", "within_budget"),
                   ("BIC", "bic"), ("fit s", "fit_time_s"), ("converged", "converged"))


def report_markdown(report: Sequence[dict], *, title: str = "Teacher candidates",
                    witness_scale: float | None = None, energy_budget: float | None = None) -> str:
    """A markdown table of every candidate, the chosen one marked with an arrow."""
    lines = [f"# {title}", ""]
    if witness_scale is not None or energy_budget is not None:
        lines += [f"Witness scale beta = {witness_scale}; energy budget = {energy_budget} nats "
                  "(exact-code energy ((K-1)/(2 K beta^2)) E_T). Rule: max held-out I_T (cross-validated "
                  "within the fitting rows, or on unused training rows when a subsample leaves them; '-' outside "
                  "the budget) within budget; ties: smaller K, then "
                  "lower BIC. gap = I_T(train) - I_T(held-out).", ""]
    lines.append("| " + " | ".join(h for h, _ in _REPORT_COLUMNS) + " |")
    lines.append("|" + "---|" * len(_REPORT_COLUMNS))

    def fmt(key, v):
        if key == "chosen":
            return "**->**" if v else ""
        if key == "bic":
            return f"{v:.1f}"
        if key == "fit_time_s":
            return f"{v:.2f}"
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return f"{v:.4f}"
        return str(v)

    for r in report:
        lines.append("| " + " | ".join(fmt(k, r[k]) for _, k in _REPORT_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# Cached convenience entry point
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TeacherResult:
    """The chosen teacher of a data set with its float64 responsibilities on both splits."""
    teacher: FittedTeacher
    T_train: np.ndarray
    T_test: np.ndarray
    K: int
    report: list[dict]
    path: Path | None


def _fingerprint(x: np.ndarray) -> str:
    """SHA-256 of about 256 evenly spaced rows: cheap, and catches a different data set of the same shape."""
    step = max(1, x.shape[0] // 256)
    return hashlib.sha256(np.ascontiguousarray(x[::step]).tobytes()).hexdigest()[:16]


def _cache_key(dataset, config: TeacherConfig, seed: int) -> dict:
    return {"format_version": TEACHER_FORMAT_VERSION, "dataset": dataset.name,
            "config": dataclasses.asdict(config), "seed": int(seed),
            "x_train_shape": list(dataset.x_train.shape), "x_test_shape": list(dataset.x_test.shape),
            "x_train_fingerprint": _fingerprint(dataset.x_train), "x_test_fingerprint": _fingerprint(dataset.x_test)}






def teacher_for(dataset, *, config: TeacherConfig, witness_scale: float = WITNESS_SCALE, latent_dim: int = LATENT_DIM,
                seed: int = 0,
                cache_dir: str | Path | None = USER_CACHE, progress: bool = False) -> TeacherResult:
    """The default teacher of ``dataset`` (an ``empirical.data.Dataset``), cached on disk.

    Runs the search of ``config`` (a data set's default: ``empirical.data.registry.default_config``)
    with ``witness_scale`` and ``latent_dim`` overriding the config's, seeded by ``seed``,
    on the training split; or loads it from ``cache_dir/<dataset>-<hash>.npz``, the hash
    covering the config, seed, data shapes and a data fingerprint. ``cache_dir`` is a
    ``teacher.cache`` value: "user" (the default: the user's cache directory, see
    :func:`teacher_cache_dir`), a directory, or None (no cache). The result's
    ``path`` is absolute. Returns float64 responsibilities for both splits.
    """
    cfg = dataclasses.replace(config, witness_scale=float(witness_scale),
                              latent_dim=int(latent_dim))
    key = _cache_key(dataset, cfg, seed)
    digest = config_hash(key)
    cache = teacher_cache_dir(cache_dir)
    path = None if cache is None else cache / f"{run_name(dataset.name)}-{digest}.npz"
    if path is not None and path.exists():
        teacher = FittedTeacher.load(path)
        meta = teacher.metadata
        T_train_cached, T_test_cached = teacher.T_train, teacher.T_test
        if (meta.get("cache_hash") == digest and T_train_cached is not None and T_test_cached is not None
                and T_train_cached.shape[0] == dataset.x_train.shape[0]
                and T_test_cached.shape[0] == dataset.x_test.shape[0]):
            return TeacherResult(teacher=teacher, T_train=T_train_cached, T_test=T_test_cached,
                                 K=teacher.K, report=list(meta.get("report", [])), path=path)
        warnings.warn(f"cached teacher {str(path)!r} does not match this data set; recomputing it", stacklevel=2)
    search = TeacherSearch.from_config(cfg, random_state=int(seed), progress=progress).fit(dataset.x_train)
    teacher = search.teacher_
    T_train = search.T_train_
    T_test = teacher.responsibilities(dataset.x_test)
    chosen = search.report_[search.best_index_]
    metadata = {
        "cache_hash": digest, "cache_key": key, "dataset": dataset.name, "seed": int(seed),
        "config": dataclasses.asdict(cfg), "chosen": chosen, "chosen_index": search.best_index_,
        "within_budget": search.within_budget_, "skipped_K": list(search.skipped_K_),
        "n_fit_rows": int(search.fit_indices_.size), "search_time_s": search.search_time_s_,
        "heldout_method": search.heldout_method_,
        "I_T_train": chosen["I_T"], "I_T_heldout": chosen["I_T_heldout"], "I_T_gap": chosen["I_T_gap"],
        "I_T_test": wt.teacher_information(T_test), "selection": cfg.selection,
        "grid": search.grid_, "grid_notes": list(search.grid_notes_),
        "content_hash": teacher.content_hash, "report": search.report_,
        "versions": library_versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    teacher.T_train, teacher.T_test, teacher.metadata = T_train, T_test, metadata
    if path is not None:
        teacher.save(path)
    return TeacherResult(teacher=teacher, T_train=T_train, T_test=T_test, K=teacher.K,
                         report=list(search.report_), path=path)
