"""The package's defaults, each written once (no imports: ``empirical.config`` reads them without
loading numpy or scipy).

``WITNESS_SCALE`` is beta of S(mu) = softmax(beta A^T mu) wherever a scale is not given: the
:class:`~witness_theory.core.Witness`, ``python -m witness_theory check`` and every experiment
(config key ``witness.scale``). ``DELTA`` is the error rate of every certified-information verdict
(T13, docs/theory.md; config key ``train.delta``).
"""

__all__ = ["WITNESS_SCALE", "DELTA"]

WITNESS_SCALE = 4.0   # beta: the scale every recorded result in results/ was run at
DELTA = 0.05          # the error rate of every certified-information verdict
