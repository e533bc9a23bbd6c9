"""Overhead of CertificateMonitor on a plain PyTorch VAE epoch (prints numbers; no assertions).

For each configuration, epochs with and without the monitor (update every batch + compute()
at epoch end) are interleaved, so that load drift on a shared machine hits both alike, and
the ratio of medians is reported against its target (issue 10: <= 1.03 on the MNIST-size
epoch, <= 1.05 on the digits-size epoch; printed, never asserted). The cost is split into
its two parts, the update() calls of one epoch and one compute() (= witness_theory.certify),
each timed alone, so that a ratio above target says which part to work on. Times are this process's CPU time
(``time.process_time``, one torch thread), which other jobs on a shared machine do not
inflate the way they inflate wall-clock time; wall-clock ratios are printed beside them.

    .venv/bin/python bench/bench_monitor.py [--repeats 7] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from empirical.monitor import CertificateMonitor

# name: (N, D, hidden, latent d, K, batch, target ratio)
CONFIGS = {
    "digits-size (N=1797, D=64, h=128)": (1797, 64, 128, 16, 10, 128, 1.05),
    "mnist-size (N=6000, D=784, h=512)": (6000, 784, 512, 16, 10, 128, 1.03),
}


class VAE(nn.Module):
    def __init__(self, D, h, d):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, h), nn.ReLU())
        self.mean, self.log_var = nn.Linear(h, d), nn.Linear(h, d)
        self.decoder = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, D))

    def forward(self, x):
        h = self.body(x)
        mu, log_var = self.mean(h), self.log_var(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        return self.decoder(z), mu, log_var


def epoch(model, optimizer, loader, monitor=None):
    t0, c0 = time.perf_counter(), time.process_time()
    if monitor is not None:
        monitor.reset()
    for index, x in loader:
        logits, mu, log_var = model(x)
        loss = (F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
                + 0.5 * (mu ** 2 + log_var.exp() - 1 - log_var).sum()) / len(x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if monitor is not None:
            monitor.update(index, mu)
    if monitor is not None:
        monitor.compute()
    return time.process_time() - c0, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.repeats} interleaved epoch pairs per config")
    for name, (N, D, h, d, K, B, target) in CONFIGS.items():
        rng = np.random.default_rng(0)
        torch.manual_seed(0)
        X = torch.from_numpy(rng.uniform(size=(N, D)).astype(np.float32))
        teacher = rng.dirichlet(np.full(K, 0.3), size=N)
        data = torch.utils.data.TensorDataset(torch.arange(N), X)
        loader = torch.utils.data.DataLoader(data, batch_size=B, shuffle=True)
        model = VAE(D, h, d)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        monitor = CertificateMonitor(teacher, 4.0, d)
        epoch(model, optimizer, loader)  # warm-up (allocator, first-call overheads)
        epoch(model, optimizer, loader, monitor)
        plain, monitored = [], []
        for r in range(args.repeats):
            pair = [(False, plain), (True, monitored)]
            for use, sink in (pair if r % 2 == 0 else pair[::-1]):
                sink.append(epoch(model, optimizer, loader, monitor if use else None))
        cpu = [statistics.median(t[0] for t in ts) for ts in (plain, monitored)]
        wall = [statistics.median(t[1] for t in ts) for ts in (plain, monitored)]
        c0 = time.process_time()
        for _ in range(20):
            monitor.compute()
        t_compute = (time.process_time() - c0) / 20
        # the update() calls of one epoch alone, on the batches the loader yields (median of 20)
        with torch.no_grad():
            batches = [(index, model(x)[1]) for index, x in loader]
        t_updates = []
        for _ in range(20):
            monitor.reset()
            c0 = time.process_time()
            for index, mu in batches:
                monitor.update(index, mu)
            t_updates.append(time.process_time() - c0)
        ratio = cpu[1] / cpu[0]
        # the fastest epoch of each kind is the one least disturbed by other jobs on the machine
        ratio_min = min(t[0] for t in monitored) / min(t[0] for t in plain)
        print(f"{name}: plain {cpu[0] * 1e3:.1f} ms/epoch, monitored {cpu[1] * 1e3:.1f} ms/epoch (CPU time), "
              f"ratio {ratio:.3f} (target <= {target}: {'met' if ratio <= target else 'NOT met'}; "
              f"ratio of the fastest epochs {ratio_min:.3f}); "
              f"wall-clock ratio {wall[1] / wall[0]:.3f}; parts: {len(loader)} update() calls "
              f"{statistics.median(t_updates) * 1e3:.2f} ms + compute() {t_compute * 1e3:.2f} ms "
              f"= {(statistics.median(t_updates) + t_compute) / cpu[0]:.3f} of a plain epoch")


if __name__ == "__main__":
    main()
