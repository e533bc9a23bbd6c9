"""Experiments predicted by the witness theory, on real data sets.

Subpackages and modules:

- ``empirical.data``: data set loaders (digits, Fashion-MNIST, MNIST, CIFAR-10/100, Tiny-ImageNet,
  user arrays), the data set registry and the PCA-GMM teacher search (``empirical.data.teacher``).
- ``empirical.models``: the VAE (MLP, small conv net, linear) and the torch copy of the witness.
- ``empirical.methods``: the training methods as plug-ins (vanilla, the witness methods, remedies, rivals).
- ``empirical.training``: the training loop, experiment preparation, evaluation, checkpoints, metrics.
- ``empirical.experiments``: claims C1-C3, compare (C4-C7), escape (T6), rescue, frontier (T7, T11),
  the linear-VAE threshold (T12) and certificate evaluation of saved codes (``certify``).
- ``empirical.report``: tables, results READMEs and figures.
- ``empirical.config``: the config tree and its ``--set`` overrides.
- ``empirical.sweep``: grids of trials on this machine or on a SLURM cluster.
- ``empirical.monitor`` / ``empirical.lightning``: the certificate for your own training loop.
- ``empirical.cli`` / ``empirical.commands``: the command line, one module per command.

Run ``python -m empirical --help`` for the command line; docs/user-guide.md for a tour.
"""
