"""A certificate monitor to drop into any PyTorch training loop.

Usage (the whole API)::

    monitor = CertificateMonitor(teacher, latent_dim=d)    # witness scale: witness_theory.defaults
    for epoch in range(epochs):
        monitor.reset()
        for index, x in loader:                 # index: dataset row numbers of the batch
            mu, log_var = encoder(x)
            ...                                 # your loss, backward, step
            monitor.update(index, mu)           # detached; kept on mu's device until compute()
        result = monitor.compute()              # witness_theory.certify on this epoch's codes
        print(result.summary())

A loader that gives no data-set indices works too, for an *ordered* pass (``shuffle=False``,
every row once, in the teacher's row order): ``monitor.update(mu)`` appends the batch's codes
after those already recorded. The held-out certificates (raw, fitted witness, probe;
:mod:`witness_theory.heldout`, theorem T2H) of the same codes: ``monitor.compute_heldout(split)``
with a :func:`witness_theory.heldout_split` of the rows, or ``monitor.compute_heldout(
fit_monitor=train_monitor)`` with a second monitor that holds a separate fit pass (e.g. the
training set, while this monitor holds the test set).

Why it is built this way:

- **Exact, not re-derived.** ``compute()`` calls :func:`witness_theory.certify` on the
  accumulated float64 codes, so its numbers are bit-for-bit those of ``certify`` on the same
  codes (float32 -> float64 is exact). The monitor only collects codes; every formula stays
  in ``witness_theory.core`` (one formula, one place).
- **Exact for one empirical data set.** The certificate is a statement about one weighted
  data set (THEORY.md, conventions), so every row of the teacher must receive exactly one
  code per epoch: a duplicate index or a missing one is an error that names the rows, never
  a silently different data set.
- **Cheap, and no per-batch device synchronisation.** The indices are host data (a
  DataLoader yields CPU tensors) and are checked at once. Codes on an accelerator are kept
  there (one detached device copy per batch, queued like any other kernel: no ``.cpu()``,
  no ``.item()``), and are copied to the host once, in ``compute()``/``codes()``; their
  NaN/inf check runs then and names the rows. Codes on the CPU are widened to float64 and
  scattered into a preallocated (N, d) buffer at once (there is no device to wait for).
  ``compute`` is O(N d K) once per epoch (``bench/bench_monitor.py`` measures the overhead
  on a plain VAE epoch).
- **Codes are the encoder means at the time of the update.** During training the encoder
  changes between batches, so an epoch's codes mix parameter states (as every epoch-level
  training metric does). For the certificate of one fixed encoder, run an evaluation pass
  (``model.eval()``, ``torch.no_grad()``) through the monitor.

Depends only on NumPy, torch and :mod:`witness_theory`, so it works outside this package.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import witness_theory as wt
from witness_theory.defaults import WITNESS_SCALE
from witness_theory.validation import check_distributions, check_weights

__all__ = ["CertificateMonitor", "MonitorResult", "HeldoutMonitorResult"]



@dataclass(frozen=True)
class MonitorResult:
    """The certificate of one epoch's codes (all values from :func:`witness_theory.certify`).

    ``I_T``, ``L_TS``, ``G_T`` in nats; ``verdict`` is "certified" only when G_T exceeds the
    floating-point error bound; ``escape_force`` is sum_i w_i ||grad_mu KL(T_i||S(mu_i))||^2
    (T6); ``t8_bound`` is beta sqrt(2 kappa) sum_i w_i ||P^T(mu_i - mbar)|| >= G_T (T8) and
    ``certified_spread`` the lower bound on tr Cov_w(P^T mu) that a positive margin proves.
    """
    certificate: wt.Certificate
    certified_spread: float
    step: int  # how many compute() calls preceded this one (the epoch number if called per epoch)

    @property
    def I_T(self) -> float:
        return self.certificate.teacher_information

    @property
    def L_TS(self) -> float:
        return self.certificate.alignment_loss

    @property
    def G_T(self) -> float:
        return self.certificate.margin

    @property
    def verdict(self) -> str:
        return self.certificate.verdict

    @property
    def certified(self) -> bool:
        return self.certificate.certified

    @property
    def escape_force(self) -> float:
        return self.certificate.escape_force

    @property
    def t8_bound(self) -> float:
        return self.certificate.size_bound

    @property
    def t8_bound_trace(self) -> float:
        return self.certificate.size_bound_trace

    def as_dict(self) -> dict:
        out = {"step": self.step, "I_T": self.I_T, "L_TS": self.L_TS, "G_T": self.G_T,
               "verdict": self.verdict, "escape_force": self.escape_force,
               "t8_bound": self.t8_bound, "certified_spread": self.certified_spread}
        out["certificate"] = self.certificate.as_dict()
        return out

    def summary(self) -> str:
        return (f"I_T={self.I_T:.4f} L_TS={self.L_TS:.4f} G_T={self.G_T:+.4f} ({self.verdict}) "
                f"escape_force={self.escape_force:.4g} T8_bound={self.t8_bound:.4f}")


@dataclass(frozen=True)
class HeldoutMonitorResult:
    """The held-out certificates of one pass (:meth:`CertificateMonitor.compute_heldout`).

    Each of ``raw``, ``witness``, ``probe`` is a :class:`witness_theory.HeldoutCertificate`
    (None if not requested): I_T, loss and margin on the evaluation rows, the fit-split margin,
    and the fitted parameters. A positive evaluation margin proves the encoder mean is not
    constant on the evaluation rows (T2H); a negative one proves nothing. With uniformly weighted
    rows each carries the (1 - delta) lower confidence bound ``lcb`` on I(Y; Z) in nats (T13) and
    a three-level ``verdict`` ("certified" means LCB > 0).
    """
    raw: wt.HeldoutCertificate | None
    witness: wt.HeldoutCertificate | None
    probe: wt.HeldoutCertificate | None
    step: int

    def items(self):
        return [(k, v) for k, v in (("raw", self.raw), ("witness", self.witness), ("probe", self.probe))
                if v is not None]

    def as_dict(self) -> dict:
        return {"step": self.step, **{k: v.as_dict() for k, v in self.items()}}

    def summary(self) -> str:
        return "; ".join(f"{k}: G(eval)={v.margin:+.4f}, LCB "
                         f"{'n/a' if v.lcb is None else format(v.lcb, '+.4f')} ({v.verdict})" for k, v in self.items())


class CertificateMonitor:
    """Accumulates encoder means by data-set index and certifies them at epoch end.

    Parameters
    ----------
    teacher : array (N, K)
        Teacher posterior rows T_i, one per data-set index 0..N-1 (float64 copy kept).
    witness_scale : float
        beta of the witness S(mu) = softmax(beta A^T mu).
    latent_dim : int, optional
        d, the encoder's latent dimension (default: the frame's row count, else K-1).
    frame : array (d, K-1), optional
        Orthonormal witness frame P (default: the first K-1 latent coordinates).
    weights : array (N,), optional
        Data weights w_i (normalised to sum 1; uniform by default).
    witness : witness_theory.Witness, optional
        Use this witness instead of building one (then leave ``witness_scale``/``latent_dim``/
        ``frame`` at their defaults); see also :meth:`from_witness`.
    """

    _defer_cpu = False  # tests set this to run the accelerator path (kept on device, one copy) on the CPU

    def __init__(self, teacher, witness_scale: float = WITNESS_SCALE, latent_dim: int | None = None,
                 frame=None, weights=None, *, witness: wt.Witness | None = None):
        T = check_distributions(teacher, "teacher", allow_1d=False)
        if witness is None:
            witness = wt.Witness(T.shape[1], latent_dim, scale=witness_scale, frame=frame)
        else:
            if not isinstance(witness, wt.Witness):
                raise ValueError(f"witness must be a witness_theory.Witness, got {type(witness).__name__}")
            if latent_dim is not None and latent_dim != witness.d:
                raise ValueError(f"latent_dim = {latent_dim} but the witness has d = {witness.d}; omit latent_dim")
            if frame is not None:
                raise ValueError("pass either a witness or a frame, not both (the witness fixes its frame)")
        if witness.K != T.shape[1]:
            raise ValueError(f"teacher has K = {T.shape[1]} outcomes but the witness was built for K = {witness.K}")
        # keep a float64 copy of the caller's rows as given (not the validated, renormalised
        # ones), so compute() hands certify() exactly what a direct call would (bit for bit)
        self.teacher = np.array(teacher, dtype=np.float64)
        self.witness = witness
        check_weights(weights, T.shape[0])  # validate now; keep the caller's array so that
        # compute() passes certify() exactly what a direct call would (renormalising already
        # normalised weights can move them by an ulp, and then the margin's last bit)
        self.weights = None if weights is None else np.array(weights, dtype=np.float64)
        self.n, self.d = T.shape[0], witness.d
        self._codes = np.empty((self.n, self.d), dtype=np.float64)  # (N, d), filled by update()
        self._seen = np.zeros(self.n, dtype=bool)                    # (N,)
        self._n_seen = 0
        self._computed = 0
        self._pending: list[tuple[np.ndarray, torch.Tensor]] = []   # (index (B,), codes (B, d) on device)
        self._mode: str | None = None                                # "index" | "ordered", fixed per epoch

    @classmethod
    def from_witness(cls, teacher, witness: wt.Witness, weights=None) -> CertificateMonitor:
        return cls(teacher, weights=weights, witness=witness)

    def __repr__(self) -> str:
        return f"CertificateMonitor(N={self.n}, K={self.witness.K}, d={self.d}, scale={self.witness.scale}, seen={self._n_seen})"

    @property
    def n_seen(self) -> int:
        return self._n_seen

    def reset(self) -> None:
        """Forget the codes collected so far (call at the start of every epoch)."""
        self._seen[:] = False
        self._n_seen = 0
        self._pending.clear()
        self._mode = None

    def update(self, index, mu=None) -> None:
        """Record encoder means ``mu`` (B, d) for data-set rows ``index`` (B,).

        ``update(mu)`` (no index) appends the codes in order, for an ordered pass over the
        data set (rows n_seen .. n_seen+B-1); one epoch uses one form, not both.

        ``mu`` may be a torch tensor on any device or an array. A tensor on an accelerator is
        detached and copied on its device; the one device-to-host copy happens in ``compute()``.
        Raises ValueError for a wrong shape, an index outside 0..N-1, an index given twice
        (within the batch or since the last reset), more ordered codes than rows, or NaN/inf
        (at once for CPU codes; in ``compute()``/``codes()`` for codes on an accelerator).
        """
        if mu is None:                                   # update(mu): the ordered form
            mu, index, mode = index, None, "ordered"
        else:
            mode = "index"
        if self._mode is not None and mode != self._mode:
            raise ValueError(f"this epoch's codes were recorded in the {self._mode} form; do not mix "
                             "update(index, mu) and update(mu) between two reset() calls")
        shape = tuple(mu.shape) if isinstance(mu, torch.Tensor) else np.shape(mu)
        if len(shape) != 2 or shape[1] != self.d:
            raise ValueError(f"mu must have shape (B, {self.d}) (B codes of latent dimension d = {self.d}), "
                             f"got {tuple(shape)}")
        if index is None:
            if self._n_seen + shape[0] > self.n:
                raise ValueError(f"update(mu) without an index appends in order, and {self._n_seen} + {shape[0]} "
                                 f"codes exceed the teacher's N = {self.n} rows; call reset() at the start of "
                                 "each epoch, and pass each row once (an ordered pass, shuffle=False)")
            idx = np.arange(self._n_seen, self._n_seen + shape[0], dtype=np.int64)
        else:
            idx = _as_index(index)
        if isinstance(mu, torch.Tensor) and (mu.device.type != "cpu" or self._defer_cpu):
            # stays on the device: a detached copy is queued like any other kernel, no sync
            self._check_index(idx, shape[0], mark=True)
            self._pending.append((idx, mu.detach().clone()))
            self._n_seen += idx.size
            self._mode = mode
            return
        if isinstance(mu, torch.Tensor):
            # a view of the CPU tensor in its own dtype; the scatter below widens it to float64,
            # and float32 -> float64 is exact, so the stored codes are the model's values
            detached = mu.detach()
            codes: np.ndarray = (detached.numpy() if detached.dtype in _NUMPY_FLOATS
                                 else detached.to(torch.float64).numpy())
        else:
            codes = np.asarray(mu)
            if codes.dtype.kind not in "fiu":
                codes = np.asarray(mu, dtype=np.float64)   # e.g. lists, object arrays: validated below
        self._check_index(idx, codes.shape[0], mark=True)  # marks the rows seen (undone on error)
        try:
            _check_finite(codes, idx)
        except ValueError:
            self._seen[idx] = False
            raise
        self._codes[idx] = codes
        self._n_seen += idx.size
        self._mode = mode

    append = update  # ``monitor.append(mu)``: the ordered form under its own name

    def _check_index(self, idx: np.ndarray, rows: int, mark: bool = False) -> None:
        """Range, repeats within the batch, rows already recorded; with ``mark`` the rows are
        then marked seen (the caller unmarks them if a later check fails)."""
        if rows != idx.shape[0]:
            raise ValueError(f"index has {idx.shape[0]} entries but mu has {rows} rows; "
                             "pass one data-set index per code")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            bad = idx[(idx < 0) | (idx >= self.n)]
            raise ValueError(f"index out of range 0..{self.n - 1} (the teacher has N = {self.n} rows): "
                             f"{_few(bad)}")
        already = self._seen[idx]
        if already.any():
            if np.unique(idx).size == idx.size:      # repeats within the batch are reported first
                raise ValueError(f"data-set indices already recorded since the last reset(): "
                                 f"{_few(idx[already])}; call reset() at the start of each epoch")
        else:
            # no row seen before: mark them and count; fewer new rows than entries = a repeat
            # (one O(N/64) popcount instead of sorting the batch)
            self._seen[idx] = True
            if np.count_nonzero(self._seen) - self._n_seen == idx.size:
                if not mark:
                    self._seen[idx] = False
                return
            self._seen[idx] = False
        ordered = np.sort(idx)
        repeated = ordered[1:] == ordered[:-1]
        raise ValueError(f"index repeats data-set indices within one batch: "
                         f"{_few(np.unique(ordered[1:][repeated]))}; each row may be recorded once per epoch")

    def _flush(self) -> None:
        """Copy the codes kept on the device to the host: one transfer per device and epoch."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        idx = np.concatenate([i for i, _ in pending])                                 # (M,)
        by_device: dict = {}
        for i, (_, t) in enumerate(pending):
            by_device.setdefault((t.device, t.dtype), []).append(i)
        codes = np.empty((idx.size, self.d), dtype=np.float64)
        starts = np.cumsum([0] + [t.shape[0] for _, t in pending])
        for members in by_device.values():
            host = torch.cat([pending[i][1] for i in members]).to("cpu").to(torch.float64).numpy()
            row = 0
            for i in members:
                b = pending[i][1].shape[0]
                codes[starts[i]:starts[i] + b] = host[row:row + b]
                row += b
        try:
            _check_finite(codes, idx)
        except ValueError:
            self._seen[idx] = False            # nothing of the failed transfer counts as recorded
            self._n_seen -= idx.size
            raise
        self._codes[idx] = codes

    def codes(self) -> np.ndarray:
        """A float64 copy of the accumulated codes (N, d); every row must have been recorded."""
        self._flush()
        self._require_complete()
        return self._codes.copy()

    def compute(self) -> MonitorResult:
        """Certify the accumulated codes with :func:`witness_theory.certify` (needs every row)."""
        self._flush()
        self._require_complete()
        cert = wt.certify(self.teacher, self._codes, self.witness, self.weights)
        result = MonitorResult(certificate=cert, certified_spread=wt.certified_spread(cert.margin, self.witness),
                               step=self._computed)
        self._computed += 1
        return result

    def compute_heldout(self, split: wt.HeldoutSplit | None = None, *, fit_ids=None, eval_ids=None,
                        fit_monitor: CertificateMonitor | None = None,
                        methods: tuple[str, ...] = ("raw", "witness", "probe"),
                        witness_kwargs: dict | None = None, probe_kwargs: dict | None = None,
                        delta: float = wt.DEFAULT_DELTA, permutations: int = 0) -> HeldoutMonitorResult:
        """Held-out certificates of the accumulated codes (T2H): raw, fitted witness, probe, each with
        its (1 - ``delta``) lower confidence bound on I(Y; Z) (T13; uniform weights only) and, with
        ``permutations`` > 0, the exact permutation p-value.

        Which rows choose the predictor and which are certified, one of:

        - ``split``: a :func:`witness_theory.heldout_split` of this monitor's N rows;
        - ``fit_ids`` and ``eval_ids``: disjoint arrays of this monitor's row indices;
        - ``fit_monitor``: another monitor holding a separate fit pass (another data set, e.g.
          the training set; same K, d and witness); all of this monitor's rows are certified.

        "raw" is this monitor's fixed witness (:class:`witness_theory.RawWitness`: nothing is
        fitted); "witness" and "probe" are :class:`witness_theory.FittedWitness` and
        :class:`witness_theory.Probe` fitted on the fit rows (constructor settings via
        ``witness_kwargs``/``probe_kwargs``). Overlapping rows are refused (ValueError naming
        them). Weights, if the monitors have any, are renormalised on each split.
        """
        unknown = set(methods) - {"raw", "witness", "probe"}
        if unknown or not methods:
            raise ValueError(f"methods must be a non-empty subset of ('raw', 'witness', 'probe'), got {methods!r}")
        codes = self.codes()
        w = self.weights
        if fit_monitor is not None:
            if split is not None or fit_ids is not None or eval_ids is not None:
                raise ValueError("pass either fit_monitor (a separate fit pass) or split / fit_ids+eval_ids, not both")
            if fit_monitor is self:
                raise ValueError("fit_monitor is this monitor: its rows would be both fitted on and certified; "
                                 "pass a monitor that holds a separate fit pass (another data set), or a split")
            if not isinstance(fit_monitor, CertificateMonitor):
                raise TypeError(f"fit_monitor must be a CertificateMonitor, got {type(fit_monitor).__name__}")
            if fit_monitor.witness.K != self.witness.K or fit_monitor.d != self.d:
                raise ValueError(f"fit_monitor has K = {fit_monitor.witness.K}, d = {fit_monitor.d} but this monitor "
                                 f"has K = {self.witness.K}, d = {self.d}")
            T_fit, X_fit, w_fit = fit_monitor.teacher, fit_monitor.codes(), fit_monitor.weights
            T_eval, X_eval, w_eval = self.teacher, codes, w
            # two data sets: ids in one namespace, fit rows first (disjoint by construction)
            f_ids = np.arange(fit_monitor.n)
            e_ids = fit_monitor.n + np.arange(self.n)
        else:
            if split is not None:
                if fit_ids is not None or eval_ids is not None:
                    raise ValueError("pass either split or fit_ids+eval_ids, not both")
                if not isinstance(split, wt.HeldoutSplit) or split.n != self.n:
                    raise ValueError(f"split must be witness_theory.heldout_split({self.n}) for this monitor's "
                                     f"N = {self.n} rows, got {split!r}")
                f_ids, e_ids = split.fit, split.eval
            elif fit_ids is not None and eval_ids is not None:
                f_ids, e_ids = _as_index(fit_ids), _as_index(eval_ids)
                for name, ids in (("fit_ids", f_ids), ("eval_ids", e_ids)):
                    if ids.size == 0 or ids.min() < 0 or ids.max() >= self.n:
                        raise ValueError(f"{name} must be non-empty row indices in 0..{self.n - 1}")
            else:
                raise ValueError("compute_heldout needs the rows to fit on: split=witness_theory.heldout_split(N), "
                                 "fit_ids= and eval_ids=, or fit_monitor=")
            T_fit, X_fit, w_fit = self.teacher[f_ids], codes[f_ids], None if w is None else w[f_ids]
            T_eval, X_eval, w_eval = self.teacher[e_ids], codes[e_ids], None if w is None else w[e_ids]
        out = {}
        for method in methods:
            estimator: wt.RawWitness | wt.FittedWitness | wt.Probe
            if method == "raw":
                estimator = wt.RawWitness(self.witness)
            elif method == "witness":
                estimator = wt.FittedWitness(**(witness_kwargs or {}))
            else:
                estimator = wt.Probe(**(probe_kwargs or {}))
            out[method] = estimator.fit(T_fit, X_fit, f_ids, weights=w_fit).certify(
                T_eval, X_eval, e_ids, weights=w_eval, delta=delta, permutations=permutations)
        return HeldoutMonitorResult(raw=out.get("raw"), witness=out.get("witness"), probe=out.get("probe"),
                                    step=self._computed)

    def _require_complete(self) -> None:
        if self._n_seen != self.n:
            missing = np.flatnonzero(~self._seen)
            raise ValueError(f"{missing.size} of {self.n} data-set indices have no code since the last reset(): "
                             f"{_few(missing)}; the certificate is exact only for the whole data set, so "
                             "pass every row once per epoch (drop_last=False), or build the monitor on the subset")


_NUMPY_FLOATS = (torch.float32, torch.float64, torch.float16)   # dtypes numpy can view (not bfloat16)


def _check_finite(codes: np.ndarray, idx: np.ndarray) -> None:
    if not np.isfinite(codes).all():  # fast path first; the per-row scan only on failure
        finite = np.isfinite(codes).all(axis=1)
        raise ValueError(f"mu contains NaN or inf for data-set indices {_few(idx[~finite])}; "
                         "the encoder diverged (lower the learning rate or clip gradients)")


def _as_index(index) -> np.ndarray:
    if isinstance(index, torch.Tensor):
        if index.dtype.is_floating_point or index.dtype == torch.bool:
            raise ValueError(f"index must hold integer data-set indices, got a {index.dtype} tensor")
        # a DataLoader's indices are CPU tensors (a view, no copy); an index on an accelerator
        # costs one synchronisation here, so keep indices on the host
        idx = index.numpy() if index.device.type == "cpu" else index.detach().to("cpu").numpy()
    else:
        idx = np.asarray(index)
        if idx.dtype.kind not in "iu":
            raise ValueError(f"index must hold integer data-set indices, got dtype {idx.dtype}")
    if idx.ndim != 1:
        raise ValueError(f"index must be 1-D (one data-set index per code), got shape {idx.shape}")
    return idx.astype(np.int64, copy=False)


def _few(values, k: int = 10) -> str:
    values = np.asarray(values).ravel().tolist()
    head = ", ".join(str(v) for v in values[:k])
    return f"[{head}{', ...' if len(values) > k else ''}] ({len(values)} in all)"
