"""Certify a plain PyTorch VAE while it trains (the README example; runs in seconds on CPU).

The teacher is a Gaussian mixture's responsibilities on a PCA view of sklearn's digits; the
monitor collects the encoder means by data-set index and, at each epoch end, returns the exact
certificate: teacher information I_T, alignment loss L_TS, margin G_T = I_T - L_TS (G_T > 0
proves the encoder mean is not constant on the data), escape force (T6) and size bound (T8).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

import witness_theory as wt
from empirical.monitor import CertificateMonitor

EPOCHS, LATENT_DIM, K = 10, 16, 10
torch.manual_seed(0)
X = load_digits().data.astype(np.float32) / 16.0                          # (1797, 64) in [0, 1]
view = PCA(n_components=16, random_state=0).fit_transform(X)               # the teacher's view
teacher = GaussianMixture(K, random_state=0).fit(view).predict_proba(view)  # (1797, K) rows T_i


class VAE(nn.Module):
    def __init__(self, D=64, d=LATENT_DIM, h=128):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, h), nn.ReLU())
        self.mean, self.log_var = nn.Linear(h, d), nn.Linear(h, d)
        self.decoder = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, D))

    def forward(self, x):
        h = self.body(x)
        mu, log_var = self.mean(h), self.log_var(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)          # reparameterise
        return self.decoder(z), mu, log_var


model = VAE()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
data = torch.utils.data.TensorDataset(torch.arange(len(X)), torch.from_numpy(X))  # (index, x)
loader = torch.utils.data.DataLoader(data, batch_size=128, shuffle=True)
monitor = CertificateMonitor(teacher, witness_scale=4.0, latent_dim=LATENT_DIM)

for epoch in range(EPOCHS):
    monitor.reset()
    for index, x in loader:
        logits, mu, log_var = model(x)
        reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        kl = 0.5 * (mu ** 2 + log_var.exp() - 1 - log_var).sum() / len(x)  # KL(q(z|x) || N(0, I))
        optimizer.zero_grad()
        (reconstruction + kl).backward()
        optimizer.step()
        monitor.update(index, mu)                                          # detached, CPU float64
    print(f"epoch {epoch}: {monitor.compute().summary()}")

# The certificate of the trained encoder: one evaluation pass through the same monitor.
model.eval()
monitor.reset()
with torch.no_grad():
    for index, x in torch.utils.data.DataLoader(data, batch_size=512):
        monitor.update(index, model(x)[1])
result = monitor.compute()
print(f"final: {result.summary()}")

# The held-out certificates of the same codes (docs/theory.md, T2H): a witness frame and
# scale, and a logistic probe, fitted on 80% of the rows and certified on the other 20%.
heldout = monitor.compute_heldout(wt.heldout_split(len(X), fraction=0.2, seed=0))
print(f"held-out: {heldout.summary()}")
