"""Certify a VAE trained with another library (pythae) on a held-out split: raw, fitted witness, probe.

The model is pythae's ``VAE`` with its default MLP encoder and decoder, trained by pythae's own
``TrainingPipeline`` on the fit split of sklearn's digits. Nothing of witness-theory takes part
in training. Afterwards we read the encoder means mu(x) (pythae's encoder returns them as
``embedding``) and certify them with the three certificates of ``docs/theory.md``:

- raw: the fixed witness on the first K-1 latent coordinates (usually negative for a model that
  was not trained with it, which proves nothing);
- fitted witness: frame and scale fitted on the fit split, certified on the evaluation split;
- probe: a logistic regression fitted on the fit split, certified on the evaluation split.

A positive evaluation margin proves the encoder mean is not constant on the evaluation rows and,
since the predictor was fixed before seeing them, estimates its margin on new data (T2H).

Run (pythae is not a dependency of witness-theory; it installs beside torch 2.x without
replacing it; its metadata asks for torch >= 1.10.1 only)::

    pip install pythae
    python docs/other_library_example.py            # 1-3 minutes on a CPU

Why pythae: it is a small, pure-Python VAE library on PyPI whose requirements do not pin torch,
so it runs on the project's torch; its ``TrainingPipeline`` is a training loop we do not control,
which is the case this example is for.
"""
import tempfile

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

import witness_theory as wt

from pythae.models import VAE, VAEConfig                          # the other library
from pythae.pipelines import TrainingPipeline
from pythae.trainers import BaseTrainerConfig

EPOCHS, LATENT_DIM, K, FLOOR = 30, 16, 10, 1e-2
torch.manual_seed(0)

# Data, teacher and split. The teacher is a GMM on a PCA view, fitted on the fit rows only and
# floored so every row has full support (as the package's teachers are).
X = load_digits().data.astype(np.float32) / 16.0                           # (1797, 64) in [0, 1]
split = wt.heldout_split(len(X), fraction=0.2, seed=0)                     # fit / evaluation rows
pca = PCA(n_components=16, random_state=0).fit(X[split.fit])
gmm = GaussianMixture(K, random_state=0).fit(pca.transform(X[split.fit]))
teacher = (1 - FLOOR) * gmm.predict_proba(pca.transform(X)) + FLOOR / K    # (1797, K) rows T_i

# Train with pythae, on the fit rows only.
model = VAE(model_config=VAEConfig(input_dim=(64,), latent_dim=LATENT_DIM, reconstruction_loss="bce"))
with tempfile.TemporaryDirectory() as out:
    config = BaseTrainerConfig(output_dir=out, num_epochs=EPOCHS, learning_rate=1e-3,
                               per_device_train_batch_size=64, per_device_eval_batch_size=256,
                               no_cuda=True, seed=0)
    TrainingPipeline(training_config=config, model=model)(train_data=X[split.fit], eval_data=X[split.eval])

# The encoder means of every row: pythae's encoder returns mu as `embedding`.
model.eval()
with torch.no_grad():
    codes = model.encoder(torch.from_numpy(X)).embedding.double().numpy()  # (1797, LATENT_DIM)

witness = wt.Witness(K, LATENT_DIM, scale=4.0)                             # the raw, fixed witness
results = {
    "raw": wt.heldout_certify(teacher, codes, split, method="raw", witness=witness),
    "witness": wt.heldout_certify(teacher, codes, split, method="witness"),
    "probe": wt.heldout_certify(teacher, codes, split, method="probe"),
}
for name, cert in results.items():
    print(cert.summary())
active = int((codes[split.eval].var(axis=0, ddof=1) >= 0.01).sum())        # active units (THEORY.md)
print(f"active units on the evaluation split: {active} of {LATENT_DIM}")

# Measured here (pythae 0.1.2, torch 2.13.0 CPU, seed 0): raw G(eval) = -3.16 (not certified),
# fitted witness +1.97 and probe +1.97 (both certified), I_T(eval) = 2.17, 15 of 16 units active.
