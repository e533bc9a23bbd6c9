"""A certificate monitor to drop into any PyTorch training loop.

Usage (the whole API)::

    monitor = CertificateMonitor(teacher, witness_scale=4.0, latent_dim=16)
    for epoch in range(epochs):
        monitor.reset()
        for index, x in loader:                 # index: dataset row numbers of the batch
            mu, log_var = encoder(x)
            ...                                 # your loss, backward, step
            monitor.update(index, mu)           # detached, copied to CPU float64
        result = monitor.compute()              # witness_theory.certify on this epoch's codes
        print(result.summary())

Why it is built this way:

- **Exact, not re-derived.** ``compute()`` calls :func:`witness_theory.certify` on the
  accumulated float64 codes, so its numbers are bit-for-bit those of ``certify`` on the same
  codes (float32 -> float64 is exact). The monitor only collects codes; every formula stays
  in ``witness_theory.core`` (one formula, one place).
- **Exact for one empirical data set.** The certificate is a statement about one weighted
  data set (THEORY.md, conventions), so every row of the teacher must receive exactly one
  code per epoch: a duplicate index or a missing one is an error that names the rows, never
  a silently different data set.
- **Cheap.** ``update`` is one device-to-host copy of a (B, d) tensor and a NumPy scatter
  into a preallocated (N, d) buffer; ``compute`` is O(N d K) once per epoch
  (``bench/bench_monitor.py`` measures the overhead on a plain VAE epoch).
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
from witness_theory._validation import check_distributions, check_weights

__all__ = ["CertificateMonitor", "MonitorResult"]


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

    def __init__(self, teacher, witness_scale: float = 4.0, latent_dim: int | None = None,
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

    @classmethod
    def from_witness(cls, teacher, witness: wt.Witness, weights=None) -> "CertificateMonitor":
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

    def update(self, index, mu) -> None:
        """Record encoder means ``mu`` (B, d) for data-set rows ``index`` (B,).

        ``mu`` may be a torch tensor on any device (it is detached and copied to CPU float64)
        or an array. Raises ValueError for a wrong shape, NaN/inf, an index outside 0..N-1,
        or an index given twice (within the batch or since the last reset).
        """
        idx = _as_index(index)
        if isinstance(mu, torch.Tensor):
            # transfer in the tensor's own dtype (half the bytes of float64), widen on the host:
            # float32 -> float64 is exact, so the stored codes are the model's values
            codes = mu.detach().to(device="cpu").to(torch.float64).numpy()
        else:
            codes = np.asarray(mu, dtype=np.float64)
        if codes.ndim != 2 or codes.shape[1] != self.d:
            raise ValueError(f"mu must have shape (B, {self.d}) (B codes of latent dimension d = {self.d}), "
                             f"got {tuple(codes.shape)}")
        if codes.shape[0] != idx.shape[0]:
            raise ValueError(f"index has {idx.shape[0]} entries but mu has {codes.shape[0]} rows; "
                             "pass one data-set index per code")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            bad = idx[(idx < 0) | (idx >= self.n)]
            raise ValueError(f"index out of range 0..{self.n - 1} (the teacher has N = {self.n} rows): "
                             f"{_few(bad)}")
        if not np.isfinite(codes).all():  # fast path first; the per-row scan only on failure
            finite = np.isfinite(codes).all(axis=1)
            raise ValueError(f"mu contains NaN or inf for data-set indices {_few(idx[~finite])}; "
                             "the encoder diverged (lower the learning rate or clip gradients)")
        ordered = np.sort(idx)  # (B,); cheaper than np.unique for the common no-duplicate case
        repeated = ordered[1:] == ordered[:-1]
        if repeated.any():
            raise ValueError(f"index repeats data-set indices within one batch: "
                             f"{_few(np.unique(ordered[1:][repeated]))}; each row may be recorded once per epoch")
        already = self._seen[idx]
        if already.any():
            raise ValueError(f"data-set indices already recorded since the last reset(): {_few(idx[already])}; "
                             "call reset() at the start of each epoch")
        self._codes[idx] = codes
        self._seen[idx] = True
        self._n_seen += idx.size

    def codes(self) -> np.ndarray:
        """A float64 copy of the accumulated codes (N, d); every row must have been recorded."""
        self._require_complete()
        return self._codes.copy()

    def compute(self) -> MonitorResult:
        """Certify the accumulated codes with :func:`witness_theory.certify` (needs every row)."""
        self._require_complete()
        cert = wt.certify(self.teacher, self._codes, self.witness, self.weights)
        result = MonitorResult(certificate=cert, certified_spread=wt.certified_spread(cert.margin, self.witness),
                               step=self._computed)
        self._computed += 1
        return result

    def _require_complete(self) -> None:
        if self._n_seen != self.n:
            missing = np.flatnonzero(~self._seen)
            raise ValueError(f"{missing.size} of {self.n} data-set indices have no code since the last reset(): "
                             f"{_few(missing)}; the certificate is exact only for the whole data set, so "
                             "pass every row once per epoch (drop_last=False), or build the monitor on the subset")


def _as_index(index) -> np.ndarray:
    if isinstance(index, torch.Tensor):
        if index.dtype.is_floating_point or index.dtype == torch.bool:
            raise ValueError(f"index must hold integer data-set indices, got a {index.dtype} tensor")
        idx = index.detach().to("cpu").numpy()
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
