"""Qlib adapters: the only sub-package that imports qlib.

Import the concrete modules (``kronos_quant.qlib_ext.handler``, ``.model``, ``.records``)
directly; this package's ``__init__`` imports nothing so that qrun's ``module_path`` works.
"""
