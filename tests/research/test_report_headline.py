"""Headline table formatting and the one NaN -> None JSON cleaner."""
import json
import math

import numpy as np
import pytest

from kronos_quant.research import report_headline as rh

METRICS = {
    "kronos": {
        "IC_mean": 0.031234, "RankIC_mean": 0.04, "IC_icir": 0.2512, "RankIC_icir": float("nan"),
        "IC_hac_t": 2.345, "long_short_mean": 0.00123,
        "excess_return_with_cost.annualized_return": 0.1234, "excess_return_without_cost.annualized_return": -0.05,
        "excess_return_with_cost.max_drawdown": -0.2, "excess_return_with_cost.information_ratio": 1.5,
        "turnover_mean": 0.25, "IC_n_days": 240,
    },
    "lgbm": {"IC_mean": -0.01, "RankIC_mean": None},
}


def test_percentages_render_as_percentages():
    table = rh.headline_table(METRICS)
    assert list(table.columns) == ["kronos", "lgbm"]
    assert table.loc["Annualised excess return, with cost", "kronos"] == "12.34%"
    assert table.loc["Annualised excess return, no cost", "kronos"] == "-5.00%"
    assert table.loc["Max drawdown, with cost", "kronos"] == "-20.00%"
    assert table.loc["Turnover, daily mean", "kronos"] == "25.00%"
    assert table.loc["Long-short, mean per date", "kronos"] == "0.123%"
    assert table.loc["IC (mean)", "kronos"] == "0.0312" and table.loc["IC (mean)", "lgbm"] == "-0.0100"
    assert table.loc["HAC t (IC)", "kronos"] == "2.35" and table.loc["Days", "kronos"] == "240"
    assert table.loc["Information ratio, with cost", "lgbm"] == "" and "RankICIR" not in table.index  # all NaN


def test_rows_in_declared_order_and_empty_rows_dropped():
    table = rh.headline_table(METRICS)
    labels = [row.label for row in rh.HEADLINE_ROWS]
    assert list(table.index) == [label for label in labels if label in table.index]
    assert "HAC t (RankIC)" not in table.index  # no signal has it
    assert "HAC t (RankIC)" in rh.headline_table(METRICS, drop_empty=False).index


def test_single_signal_dict_and_custom_rows():
    rows = (rh.HeadlineRow("IR", "ir", digits=1), rh.HeadlineRow("Ret", "ret", "percent", 1))
    table = rh.headline_table({"ir": 0.44, "ret": 0.031}, rows)
    assert table.to_dict() == {"signal": {"IR": "0.4", "Ret": "3.1%"}}
    values = rh.headline_values({"ir": 0.44, "ret": 0.031}, rows)
    assert values.loc["Ret", "signal"] == pytest.approx(0.031)


def test_bad_inputs():
    with pytest.raises(TypeError, match="metrics must be a dict"):
        rh.headline_table([1, 2])
    with pytest.raises(ValueError, match="mixes"):
        rh.headline_table({"a": {"IC_mean": 1.0}, "IC_mean": 2.0})
    with pytest.raises(ValueError, match="kind"):
        rh.HeadlineRow("x", "x", "ratio")


def test_json_ready_nested_and_types():
    cleaned = rh.json_ready({"a": {"x": float("nan"), "y": np.float32(1.5), "n": 3, "s": "txt"}, "b": float("inf")})
    assert cleaned == {"a": {"x": None, "y": 1.5, "n": 3, "s": "txt"}, "b": None}
    json.dumps(cleaned, allow_nan=False)  # valid JSON
    assert rh.finite_or_none(np.float64("nan")) is None and rh.finite_or_none(None) is None
    assert rh.format_percent(None) == "" and rh.format_percent(math.nan) == ""
