"""Checks of a qrun ``task`` that run before anything trains (``run_workflow`` calls them).

``task_train`` builds the model, builds the dataset, trains, and only then runs the records; a
misspelt segment (``tset:``), a test segment after the end of the data or a backtest outside the
predictions would surface only then, after the networks trained (hours on real data). Each check
here raises a ValueError that names the key and the fix. The calendar checks need ``qlib.init``.
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping

import pandas as pd

from kronos_quant.data.dates import parse_date, parse_range

SEGMENT_NAMES = ("train", "valid", "test")  # what KronosModel.fit and Qlib's SignalRecord read
TRAINED_MODES = ("scratch", "finetune")  # KronosModel modes that train (and early-stop on valid)


def check_task(task: Mapping, *, where: str = "workflow") -> None:
    """All checks below on a workflow's ``task`` section (``where`` names the file in messages)."""
    for key in ("model", "dataset"):
        if not isinstance(task.get(key), Mapping):
            raise ValueError(f"{where}: task.{key} is missing; a qrun task needs 'model', 'dataset' and 'record'")
    dataset = task["dataset"].get("kwargs") or {}
    segments = dataset.get("segments")
    if not isinstance(segments, Mapping) or not segments:
        raise ValueError(f"{where}: task.dataset.kwargs.segments is missing; give train/valid/test date ranges")
    records = task.get("record") or []
    records = [records] if isinstance(records, Mapping) else list(records)
    check_segment_names(segments, records=records, model=task["model"], where=where)
    ranges = {name: parse_range(value, name=f"{where}: segments.{name}") for name, value in segments.items()}
    check_segments_in_data(ranges, handler=dataset.get("handler"), where=where)
    check_backtest_in_test(records, ranges, where=where)
    check_window_contract(task["model"], dataset, where=where)


def check_segment_names(segments: Mapping, *, records: list, model: Mapping, where: str) -> None:
    """No near-miss of train/valid/test (``tset``); ``test`` present for SignalRecord; train+valid for training."""
    for name in segments:
        close = difflib.get_close_matches(str(name), SEGMENT_NAMES, n=1, cutoff=0.7)
        if name not in SEGMENT_NAMES and close:
            raise ValueError(f"{where}: segment {name!r} is not one of {list(SEGMENT_NAMES)}; did you mean "
                             f"{close[0]!r}? (rename it under task.dataset.kwargs.segments)")
    if any(_class_name(record) == "SignalRecord" for record in records) and "test" not in segments:
        raise ValueError(f"{where}: SignalRecord predicts the 'test' segment, but segments has only {list(segments)};"
                         " add test: [start, end] under task.dataset.kwargs.segments")
    mode = (model.get("kwargs") or {}).get("mode")
    missing = [name for name in ("train", "valid") if name not in segments]
    if _class_name(model) == "KronosModel" and mode in TRAINED_MODES and missing:
        raise ValueError(f"{where}: mode {mode} trains on 'train' and early-stops on 'valid'; segments lacks "
                         f"{missing}")


def check_segments_in_data(ranges: dict, *, handler, where: str) -> None:
    """Every segment overlaps the provider's calendar and starts before the handler's ``end_time``."""
    from qlib.data import D

    calendar = D.calendar(freq="day")
    if not len(calendar):
        raise ValueError(f"{where}: the provider's calendar is empty; point qlib_init.provider_uri at a Qlib data dir")
    first, last = pd.Timestamp(calendar[0]), pd.Timestamp(calendar[-1])
    handler_kwargs = (handler.get("kwargs") or {}) if isinstance(handler, Mapping) else {}
    handler_end = handler_kwargs.get("end_time")
    handler_end = parse_date(handler_end, name=f"{where}: handler end_time") if handler_end is not None else None
    for name, (start, end) in ranges.items():
        if start > last:
            raise ValueError(f"{where}: segment {name} starts {start:%Y-%m-%d}, after the data ends ({last:%Y-%m-%d});"
                             f" move it inside {first:%Y-%m-%d}..{last:%Y-%m-%d} or update the provider")
        if end < first:
            raise ValueError(f"{where}: segment {name} ends {end:%Y-%m-%d}, before the data starts ({first:%Y-%m-%d})")
        if handler_end is not None and start > handler_end:
            raise ValueError(f"{where}: segment {name} starts {start:%Y-%m-%d}, after the handler's end_time "
                             f"{handler_end:%Y-%m-%d}; raise data_handler_config.end_time to at least {end:%Y-%m-%d}")


def check_backtest_in_test(records: list, ranges: dict, *, where: str) -> None:
    """A PortAnaRecord backtest must lie inside the test segment (the only days with predictions)."""
    if "test" not in ranges:
        return
    test_start, test_end = ranges["test"]
    for record in records:
        if _class_name(record) != "PortAnaRecord":
            continue
        backtest = ((record.get("kwargs") or {}).get("config") or {}).get("backtest") or {}
        if "start_time" not in backtest or "end_time" not in backtest:
            continue
        start, end = parse_range((backtest["start_time"], backtest["end_time"]), name=f"{where}: backtest")
        if start < test_start or end > test_end:
            raise ValueError(f"{where}: the backtest {start:%Y-%m-%d}..{end:%Y-%m-%d} is not inside the test segment "
                             f"{test_start:%Y-%m-%d}..{test_end:%Y-%m-%d}, the only days with predictions; move "
                             "port_analysis_config.backtest start_time/end_time inside it")


def check_window_contract(model: Mapping, dataset: Mapping, *, where: str) -> None:
    """A KronosModel's lookback/horizon (forecast group or flat) must not exceed the dataset's."""
    if _class_name(model) != "KronosModel":
        return
    kwargs = model.get("kwargs") or {}
    forecast = {**(kwargs.get("forecast") or {}), **{k: kwargs[k] for k in ("lookback", "horizon") if k in kwargs}}
    for key in ("lookback", "horizon"):
        wanted, given = forecast.get(key), dataset.get(key)
        if wanted is not None and given is not None and int(given) < int(wanted):
            raise ValueError(f"{where}: the model's forecast {key} is {wanted} bars but the dataset's is {given}; "
                             f"give both the same {key} (one YAML anchor, as workflows/demo.yaml does)")


def _class_name(entry) -> str | None:
    return entry.get("class") if isinstance(entry, Mapping) else None
