"""Alpha158Kronos: Alpha158 (or Alpha360) features plus cross-fitted Kronos forecast features.

A plain ``DataHandlerLP``: LGBModel, XGBModel, DNNModelPytorch, DEnsembleModel or any other Qlib
model trains on it unchanged, with the usual label ``Ref($close, -2) / Ref($close, -1) - 1``::

    handler:
      class: Alpha158Kronos
      module_path: kronos_quant.qlib_ext.kronos_factor_handler
      kwargs:
        instruments: csi300
        start_time: 2019-01-02          # the first row needs Kronos features (a fold model before it)
        end_time: 2024-06-14
        kronos: {history_start: 2010-01-04, refit_years: 2, ...}   # KronosFactorConfig fields

The Kronos columns (``kronos_ret_1`` ... ``kronos_s1_entropy``) join the base features under the
``feature`` column group (a left join on the base rows: a stock without a Kronos window that day,
e.g. too little lookback after a listing, gets NaN there). They come from
:func:`~kronos_quant.qlib_ext.kronos_factors.kronos_features`, i.e. from cross-fitted models and
the on-disk cache; a second Qlib model on the same handler settings costs nothing.
"""
from __future__ import annotations

import logging

import pandas as pd
from qlib.contrib.data.handler import _DEFAULT_LEARN_PROCESSORS, Alpha158, check_transform_proc
from qlib.contrib.data.loader import Alpha360DL
from qlib.data.dataset.handler import DataHandlerLP
from qlib.data.dataset.loader import DataLoader

from kronos_quant.factors.config import KronosFactorConfig
from kronos_quant.qlib_ext.kronos_factors import FOLD_COLUMN, kronos_features

logger = logging.getLogger(__name__)

BASES = ("alpha158", "alpha360")


class KronosFeatureLoader(DataLoader):
    """Kronos features as a Qlib DataLoader: columns ``("feature", name)``, index (datetime, instrument)."""

    def __init__(self, kronos: dict):
        self.kronos = dict(kronos)  # public: survives Qlib's Serializable
        self.config = KronosFactorConfig.from_mapping(self.kronos)

    def load(self, instruments=None, start_time=None, end_time=None) -> pd.DataFrame:
        if start_time is None or end_time is None:
            raise ValueError("Kronos features need an explicit start_time and end_time on the handler (a fold "
                             "plan is built for that range)")
        if isinstance(instruments, str) and instruments.lower() != self.config.instruments.lower():
            raise ValueError(f"the handler's instruments {instruments!r} differ from kronos.instruments "
                             f"{self.config.instruments!r}; use one universe")
        frame = kronos_features(self.config, start_time, end_time).drop(columns=[FOLD_COLUMN])
        frame.columns = pd.MultiIndex.from_tuples([("feature", name) for name in frame.columns])
        return frame


class Alpha158Kronos(DataHandlerLP):
    """Alpha158/Alpha360 + Kronos features; the arguments are Alpha158's plus ``kronos`` and ``base``.

    Args:
        kronos: a mapping of :class:`~kronos_quant.factors.config.KronosFactorConfig` fields;
            ``provider_uri`` defaults to qlib's current provider, ``instruments`` to the handler's.
        base: "alpha158" (default) or "alpha360".
    """

    def __init__(self, instruments="csi300", start_time=None, end_time=None, freq="day", infer_processors=(),
                 learn_processors=_DEFAULT_LEARN_PROCESSORS, fit_start_time=None, fit_end_time=None,
                 process_type=DataHandlerLP.PTYPE_A, filter_pipe=None, inst_processors=None, kronos=None,
                 base: str = "alpha158", **kwargs):
        if base not in BASES:
            raise ValueError(f"base must be one of {sorted(BASES)}, got {base!r}")
        if kronos is None:
            raise ValueError("Alpha158Kronos needs kronos: a mapping of KronosFactorConfig fields (see "
                             "kronos_quant.factors.config); use Alpha158 for the plain baseline")
        if not isinstance(instruments, str):
            raise ValueError("Alpha158Kronos takes a universe name (e.g. csi300) as instruments")
        kronos = _with_defaults(dict(kronos), instruments)
        base_features = Alpha158.get_feature_config(self) if base == "alpha158" else Alpha360DL.get_feature_config()
        label = kwargs.pop("label", (["Ref($close, -2)/Ref($close, -1) - 1"], ["LABEL0"]))
        qlib_loader = {"class": "QlibDataLoader", "module_path": "qlib.data.dataset.loader",
                       "kwargs": {"config": {"feature": base_features, "label": label}, "filter_pipe": filter_pipe,
                                  "freq": freq, "inst_processors": inst_processors}}
        data_loader = {"class": "NestedDataLoader", "module_path": "qlib.data.dataset.loader",
                       "kwargs": {"dataloader_l": [qlib_loader, KronosFeatureLoader(kronos)], "join": "left"}}
        super().__init__(instruments=instruments, start_time=start_time, end_time=end_time, data_loader=data_loader,
                         infer_processors=check_transform_proc(list(infer_processors), fit_start_time, fit_end_time),
                         learn_processors=check_transform_proc(list(learn_processors), fit_start_time, fit_end_time),
                         process_type=process_type, **kwargs)


def _with_defaults(kronos: dict, instruments: str) -> dict:
    """Fill ``provider_uri`` from qlib's current provider and ``instruments`` from the handler."""
    if kronos.get("provider_uri") is None:
        from kronos_quant.qlib_ext.qlib_setup import current_provider

        current = current_provider()
        if current is None:
            raise ValueError("kronos.provider_uri is not set and qlib is not initialised; set one of them")
        kronos["provider_uri"] = str(current)
    kronos.setdefault("instruments", instruments)
    return kronos
