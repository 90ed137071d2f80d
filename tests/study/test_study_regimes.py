"""The study reports every signal's IC, RankIC and Top-K excess by benchmark regime, with day counts (issue 21)."""
from __future__ import annotations

import pytest
from study_test_helpers import study_dict

from kronos_quant.study.config import study_config_from_dict

pytestmark = pytest.mark.slow


def test_study_reports_regimes(tiny_market, tmp_path):
    from kronos_quant.study.run import run_study

    config = study_config_from_dict(study_dict(tiny_market, tmp_path / "out", signals=("reversal_5d", "random"),
                                               test_start="2022-01-04", test_end="2022-03-31"))
    result = run_study(config)
    table = result.regimes
    assert set(table.index.get_level_values("regime")) == {"trend", "volatility"}
    for kind in ("trend", "volatility"):
        per_signal = table.xs(kind, level="regime").groupby(level="signal")["days"].sum()
        # every scored day has a regime (the tiny market's history starts two years before the test)
        assert per_signal.to_dict() == {name: int(ic["RankIC"].notna().sum() + ic["RankIC"].isna().sum())
                                        for name, ic in result.ics.items()}
    reversal = table.xs("reversal_5d", level="signal")
    assert reversal["RankIC"].notna().all() and reversal["topk_excess_ann"].notna().any()
    page = (tmp_path / "out" / "report" / "study.html").read_text()
    assert "By market regime" in page and "benchmark close[t]/close[t-60]-1" in page and " days)" in page
    assert (tmp_path / "out" / "report" / "regimes.csv").is_file()
    assert "suspended_rows_removed" in result.summary and "tie_days" in result.summary
