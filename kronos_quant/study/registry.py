"""The study's signal registry: every signal the walk-forward study can compare (no qlib here).

A signal is one of three kinds:

* ``rolled``: a Qlib task (model + dataset) trained on each roll window and predicting the next
  test period; ``task(config)`` returns the task *template* for the first window (segments
  ``train``, ``valid`` and ``test`` = the whole out-of-sample span). Qlib's ``RollingGen`` turns it
  into one task per window. Its predictions (``pred.pkl``) may have several columns; column
  ``score`` is the signal, other columns are diagnostics (Kronos' per-horizon forecasts).
* ``expression``: a Qlib expression evaluated per (datetime, instrument), no training.
* ``random``: a seeded random score per row (a null benchmark).

Another module adds a signal with::

    from kronos_quant.study.registry import SignalSpec, register_signal

    register_signal(SignalSpec(name="alpha158_kronos", kind="rolled", task=my_task_template,
                               prepare_window=my_window_hook, description="LightGBM on Alpha158 + Kronos"))

and the study YAML lists the module under ``signal_modules:`` (imported before the config is checked)
and the name under ``signals:``.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KINDS = ("rolled", "expression", "random")

# prepare_window(task, *, window, previous_recorder, config) -> task; window = test start "YYYY-MM-DD"
WindowHook = Callable[..., dict]


@dataclass(frozen=True)
class SignalSpec:
    """One comparable signal (see the module docstring for the kinds)."""

    name: str
    kind: str
    task: Callable[[Any], dict] | None = None  # rolled: StudyConfig -> first-window task template
    expression: str | None = None  # expression: a Qlib expression (higher = buy)
    prepare_window: WindowHook | None = None  # rolled: per-window task edits (output dir, warm start)
    cache_handler: bool = False  # rolled: build the handler once for all windows (Qlib's handler cache)
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"signal {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "rolled" and self.task is None:
            raise ValueError(f"signal {self.name!r}: a rolled signal needs task=<StudyConfig -> task template>")
        if self.kind == "expression" and not self.expression:
            raise ValueError(f"signal {self.name!r}: an expression signal needs expression='<Qlib expression>'")


_REGISTRY: dict[str, SignalSpec] = {}


def register_signal(spec: SignalSpec, *, replace: bool = False) -> SignalSpec:
    """Add ``spec`` to the registry; a ValueError if the name is taken (unless ``replace``)."""
    if not isinstance(spec, SignalSpec):
        raise TypeError(f"register_signal takes a SignalSpec, got {type(spec).__name__}")
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"signal {spec.name!r} is already registered; pass replace=True to override it")
    _REGISTRY[spec.name] = spec
    return spec


def registered_signals() -> dict[str, SignalSpec]:
    """A copy of the registry ``{name: SignalSpec}``."""
    _register_builtins()
    return dict(_REGISTRY)


def get_signal(name: str) -> SignalSpec:
    check_signal_names([name])
    return _REGISTRY[name]


def check_signal_names(names) -> None:
    """A ValueError naming every unknown signal/baseline and listing the registered ones."""
    _register_builtins()
    unknown = [name for name in names if name not in _REGISTRY]
    if unknown:
        raise ValueError(f"unknown signal/baseline {unknown}; registered: {sorted(_REGISTRY)}. Add new ones with "
                         "kronos_quant.study.registry.register_signal and list their module under signal_modules")


def import_signal_modules(modules) -> None:
    """Import the modules that register extra signals (the YAML's ``signal_modules``)."""
    for module in modules or ():
        try:
            importlib.import_module(str(module))
        except ModuleNotFoundError as err:
            raise ValueError(f"signal_modules: cannot import {module!r} ({err}); check the module path") from None


def _register_builtins() -> None:
    if "kronos" in _REGISTRY:
        return
    from kronos_quant.study import baseline_tasks, tasks

    register_signal(SignalSpec(name="kronos", kind="rolled", task=tasks.kronos_task,
                               prepare_window=tasks.kronos_prepare_window,
                               description="Kronos forecast of the return close[t+2]/close[t+1]-1, mean over paths"))
    register_signal(SignalSpec(name="lightgbm_alpha158", kind="rolled", task=tasks.lightgbm_alpha158_task,
                               cache_handler=True, prepare_window=baseline_tasks.add_size_record,
                               description="Qlib's LightGBM on Alpha158 with Qlib's benchmark parameters"))
    for name, task, description in (
            ("lightgbm_rankic_alpha158", baseline_tasks.lightgbm_rankic_task,
             "LightGBM on Alpha158, learning rate 0.05, early-stopped on validation RankIC"),
            ("linear_alpha158", baseline_tasks.linear_alpha158_task, "Qlib's ridge LinearModel on ranked Alpha158"),
            ("doubleensemble_alpha158", baseline_tasks.doubleensemble_alpha158_task,
             "Qlib's DoubleEnsemble (DEnsembleModel) on Alpha158, benchmark parameters")):
        register_signal(SignalSpec(name=name, kind="rolled", task=task, cache_handler=True,
                                   prepare_window=baseline_tasks.add_size_record, description=description))
    for name, (expression, description) in tasks.NAIVE_FACTORS.items():
        register_signal(SignalSpec(name=name, kind="expression", expression=expression, description=description))
    register_signal(SignalSpec(name="random", kind="random", description="seeded uniform noise per row"))
