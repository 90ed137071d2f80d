"""KronosHandler: Qlib's data handler for Kronos (raw daily K-lines + a return label).

Feature group "feature": open, high, low, close, volume, amount as the provider stores them
(adjusted prices, volume / factor). Providers without ``$amount`` get
``$volume * ($open + $high + $low + $close) / 4`` (Kronos' rule). Label group "label": LABEL0 =
``Ref($close, -h-1) / Ref($close, -1) - 1`` with h = ``label_horizon`` (h=1 is Alpha158's label).
"""
from __future__ import annotations

import logging
from pathlib import Path

from qlib.config import C
from qlib.contrib.data.handler import check_transform_proc
from qlib.data.dataset.handler import DataHandlerLP

from kronos_quant.data.dates import parse_range
from kronos_quant.normalization import DERIVED_AMOUNT_EXPRESSION as DERIVED_AMOUNT
from kronos_quant.validation import check_bar_frame, raise_for_issues

logger = logging.getLogger(__name__)

FEATURE_NAMES = ("open", "high", "low", "close", "volume", "amount")
DEFAULT_LEARN_PROCESSORS = ({"class": "DropnaLabel"},)


def provider_dir(freq: str = "day") -> Path:
    """The initialised provider's directory, or a ValueError saying how to initialise qlib."""
    if not C.registered:
        raise ValueError("qlib is not initialised; call qlib.init(provider_uri=<provider dir>, region='cn') first")
    path = Path(C.dpm.get_data_uri(freq))
    if not (path / "calendars" / f"{freq}.txt").exists():
        raise ValueError(f"qlib's provider_uri {path} has no calendars/{freq}.txt; point qlib.init(provider_uri=...) "
                         "at an existing Qlib data directory (e.g. run `kronos-quant data synth`)")
    return path


def provider_has_field(path: Path, field: str, freq: str = "day") -> bool:
    """Whether any instrument of the provider has a ``<field>.<freq>.bin`` file."""
    return next((path / "features").glob(f"*/{field}.{freq}.bin"), None) is not None


def _check_instruments(path: Path, instruments) -> None:
    if isinstance(instruments, str):
        if not (path / "instruments" / f"{instruments.lower()}.txt").exists():
            known = sorted(p.stem for p in (path / "instruments").glob("*.txt"))
            raise ValueError(f"unknown universe {instruments!r} in {path}; available: {known}")
    elif isinstance(instruments, (list, tuple)):
        unknown = [i for i in instruments if not (path / "features" / str(i).lower()).is_dir()]
        if unknown:
            raise ValueError(f"instruments without data in {path}: {unknown[:5]}; check the codes (e.g. SH600000)")


class KronosHandler(DataHandlerLP):
    """Raw K-lines for Kronos, with Alpha158-like arguments.

    Args:
        instruments: universe name (e.g. "csi300") or list of codes.
        start_time, end_time: data range to load (include lookback history before the first segment).
        freq: only "day" is supported for now.
        label_horizon: h in LABEL0 = Ref($close, -h-1) / Ref($close, -1) - 1.
        infer_processors, learn_processors: as in Alpha158; defaults: none / DropnaLabel.
    """

    def __init__(self, instruments="csi300", start_time=None, end_time=None, freq="day",
                 infer_processors=(), learn_processors=DEFAULT_LEARN_PROCESSORS, fit_start_time=None,
                 fit_end_time=None, process_type=DataHandlerLP.PTYPE_A, filter_pipe=None,
                 inst_processors=None, label_horizon: int = 1, **kwargs):
        if freq != "day":
            raise ValueError(f"KronosHandler supports only freq='day' for now, got {freq!r}")
        if int(label_horizon) < 1:
            raise ValueError(f"label_horizon must be >= 1, got {label_horizon}")
        path = provider_dir(freq)
        if start_time is not None and end_time is not None:
            parse_range((start_time, end_time), name="KronosHandler start_time/end_time")
        _check_instruments(path, instruments)
        self.label_horizon = int(label_horizon)
        self.has_amount = provider_has_field(path, "amount", freq)
        if not self.has_amount:
            logger.info("provider %s has no $amount: deriving it as %s", path, DERIVED_AMOUNT)
        infer_processors = check_transform_proc(list(infer_processors), fit_start_time, fit_end_time)
        learn_processors = check_transform_proc(list(learn_processors), fit_start_time, fit_end_time)
        data_loader = {
            "class": "QlibDataLoader",
            "kwargs": {
                "config": {"feature": self.get_feature_config(), "label": kwargs.pop("label", self.get_label_config())},
                "filter_pipe": filter_pipe, "freq": freq, "inst_processors": inst_processors,
            },
        }
        super().__init__(instruments=instruments, start_time=start_time, end_time=end_time,
                         data_loader=data_loader, infer_processors=infer_processors,
                         learn_processors=learn_processors, process_type=process_type, **kwargs)
        if getattr(self, "_data", None) is not None and len(self._data) == 0:
            raise ValueError(f"no data for instruments={instruments!r} between {start_time} and {end_time}; "
                             "check the dates against calendars/day.txt and the universe's spans")
        if getattr(self, "_data", None) is not None:  # the bar rules the predictor and import-csv apply
            raise_for_issues(check_bar_frame(self._data["feature"], allow_missing=True), source=f"provider {path}")

    def get_feature_config(self) -> tuple[list[str], list[str]]:
        amount = "$amount" if self.has_amount else DERIVED_AMOUNT
        return ["$open", "$high", "$low", "$close", "$volume", amount], list(FEATURE_NAMES)

    def get_label_config(self) -> tuple[list[str], list[str]]:
        h = self.label_horizon
        return [f"Ref($close, -{h + 1}) / Ref($close, -1) - 1"], ["LABEL0"]
