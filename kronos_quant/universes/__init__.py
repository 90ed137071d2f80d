"""Parallel universes: Monte-Carlo stress tests of a strategy over Kronos-generated markets.

- :mod:`.history`: the members' bars up to t0 from a Qlib provider (nothing later is read).
- :mod:`.dependence`: co-movement (one-factor Gaussian copula on the sampling uniforms over a coarse-token
  order monotone in return), its calibration and the validation statistics.
- :mod:`.generate`: U joint futures of H days for every member, batched and chunked, seeded.
- :mod:`.provider`: each universe as a Qlib provider, with an equal-weight benchmark of its members.
- :mod:`.market`, :mod:`.simulator`: array views and the vectorised TopkDropout / fixed-portfolio simulator
  (checked against Qlib's backtest).
- :mod:`.stress`, :mod:`.stress_report`, :mod:`.pipeline`: distributions, luck percentiles, HTML report,
  ``kronos-quant stress --config``.
- :mod:`.training_windows`, :mod:`.mix_study`: generated universes as extra training data.
"""
