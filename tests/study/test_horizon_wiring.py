"""The study's horizon table takes Kronos' per-horizon diagnostics and each horizon's own realised return."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.study.run import horizon_table


def test_horizon_table_rows_and_labels():
    rng = np.random.default_rng(0)
    index = pd.MultiIndex.from_product([pd.bdate_range("2022-01-03", periods=30), [f"S{i}" for i in range(20)]],
                                       names=["datetime", "instrument"])
    frame = pd.DataFrame({"kronos": rng.normal(size=len(index)), "label": rng.normal(size=len(index))}, index=index)
    realised = {k: pd.Series(rng.normal(size=len(index)), index=index) for k in (1, 5)}
    diagnostics = {"kronos_h1": realised[1] + 0.01 * rng.normal(size=len(index)), "kronos_h5": realised[5]}
    table = horizon_table(frame, diagnostics, (1, 5), realised)
    assert list(table.index) == ["headline signal", "t->t+1 vs own span", "t->t+1 vs headline label",
                                 "t->t+5 vs own span", "t->t+5 vs headline label"]
    assert table.loc["t->t+5 vs own span", "RankIC"] == pytest.approx(1.0)
    assert table.loc["t->t+1 vs own span", "RankIC"] > 0.95
    assert abs(table.loc["t->t+5 vs headline label", "RankIC"]) < 0.1
    assert table.loc["t->t+5 vs own span", "label_days"] == 5
    assert horizon_table(frame.drop(columns="kronos"), diagnostics, (1, 5), realised) is None


def test_report_shows_each_horizon_row_with_its_label(tmp_path):
    from study_test_helpers import study_dict

    from kronos_quant.study import compare
    from kronos_quant.study.config import study_config_from_dict
    from kronos_quant.study.report import write_study_report
    from kronos_quant.study.run import StudyResult

    rng = np.random.default_rng(1)
    index = pd.MultiIndex.from_product([pd.bdate_range("2022-01-03", periods=30), [f"S{i}" for i in range(20)]],
                                       names=["datetime", "instrument"])
    frame = pd.DataFrame({"kronos": rng.normal(size=len(index)), "label": rng.normal(size=len(index))}, index=index)
    realised = {5: pd.Series(rng.normal(size=len(index)), index=index)}
    ics = compare.daily_ics(frame, ["kronos"])
    result = StudyResult(config=study_config_from_dict(study_dict(tmp_path, tmp_path / "out")), frame=frame, ics=ics,
                         summary=compare.summary_table(ics), by_year=compare.by_period(ics),
                         by_half=compare.by_period(ics, freq="half"),
                         horizons=horizon_table(frame, {"kronos_h5": realised[5]}, (5,), realised),
                         incremental=None, cost_line=None)
    page = write_study_report(result, tmp_path / "report").read_text()
    assert "t-&gt;t+5 vs own span" in page and "close[t+5]/close[t]-1 (own span)" in page
    assert pd.read_csv(tmp_path / "report" / "horizons.csv", index_col=0).loc[
        "t->t+5 vs own span", "RankIC"
    ] == pytest.approx(1.0)
