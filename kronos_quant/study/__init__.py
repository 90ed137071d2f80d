"""Walk-forward alpha study: Kronos against LightGBM/Alpha158, naive factors and a random signal.

Entry point: ``kronos-quant study --config studies/csi300.yaml [--short]``; the library is
:func:`kronos_quant.study.run.run_study` on a :class:`kronos_quant.study.config.StudyConfig`.
Only the config and registry import here (no qlib); the rest is imported on use.
"""
from kronos_quant.study.config import StudyConfig, load_study_config
from kronos_quant.study.registry import SignalSpec, register_signal, registered_signals

__all__ = ["StudyConfig", "SignalSpec", "load_study_config", "register_signal", "registered_signals"]
