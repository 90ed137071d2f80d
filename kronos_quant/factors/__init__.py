"""Kronos as factors: point-in-time forecast features, cross-fitting plans and an on-disk cache.

``features`` turns one set of sample paths into feature columns, ``crossfit`` says which model
scores which dates (never its own training period), ``cache`` stores the features on disk.
Nothing here imports qlib; the Qlib side is :mod:`kronos_quant.qlib_ext.kronos_factors` and
:mod:`kronos_quant.qlib_ext.kronos_factor_handler`.
"""
