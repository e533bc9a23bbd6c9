"""Experiments predicted by the witness theory, on real data sets.

Subpackages and modules:

- ``empirical.data``: data set loaders (digits, Fashion-MNIST, MNIST, CIFAR-10/100, user arrays).
- ``empirical.teacher``: the PCA-GMM teacher search (a scikit-learn-style estimator).
- ``empirical.certify``: certificate evaluation of encoder means against a saved teacher.
- ``empirical.train`` / ``empirical.claims``: witness-aligned VAE training and the claims C1-C3.
- ``empirical.monitor`` / ``empirical.escape`` / ``empirical.rescue``: dynamic claims (T6, protocol).

Run ``python -m empirical --help`` for the command line.
"""
