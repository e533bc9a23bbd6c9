"""Training methods as plug-ins (see ``empirical.methods.base`` for the interface).

Built in: ``vanilla`` (beta-VAE via ``train.kl_weight``), the witness methods ``rst``,
``rst-prefit``, ``rst-alpha-prefit`` (ours), the standard collapse remedies ``kl-anneal``,
``free-bits``, ``aggressive``, and the rival methods ``lr-vae`` and ``hct`` (a reconstruction).
``python -m empirical methods`` lists them with their sources.

Adding a method: subclass :class:`Method`, give it ``name``, ``summary``, ``source``, a
``Config`` dataclass and a ``loss``; decorate it with :func:`register`. Nothing else changes.
"""
from empirical.methods.base import Batch, Method, MethodConfig, Run, elbo_terms, public_terms
from empirical.methods.registry import METHODS, get_method, method_names, register

# isort: split
# the built-in plug-ins register themselves on import (the registry imports none of them)
from empirical.methods import remedies, rivals, witness  # noqa: E402,F401  (kl-anneal, free-bits, aggressive; lr-vae, hct; vanilla, rst*)

__all__ = ["Batch", "Method", "MethodConfig", "Run", "elbo_terms", "public_terms", "METHODS", "get_method", "method_names",
           "register"]
