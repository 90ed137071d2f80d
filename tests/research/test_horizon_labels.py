"""Each forecast horizon t->t+k is scored against the realised return over t->t+k (issue 21)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.research.horizon_labels import horizon_table, realised_return_expression


def test_realised_expression_names_the_span():
    assert realised_return_expression(5) == "Ref($close, -5) / $close - 1"
    with pytest.raises(ValueError, match=">= 1"):
        realised_return_expression(0)


@pytest.mark.slow
def test_a_signal_equal_to_the_realised_k_day_return_has_rank_ic_one_at_k(tiny_market, init_qlib):
    from qlib.data import D

    from kronos_quant.study.factors import load_expressions, load_label

    init_qlib(tiny_market)
    start, end = "2022-01-04", "2022-03-31"
    realised = load_expressions({k: realised_return_expression(k) for k in (1, 2, 5)}, market="csi300",
                                start=start, end=end)
    # the expression is close[t+k]/close[t]-1, computed here from the raw closes with pandas
    close = D.features(D.instruments("csi300"), ["$close"], start_time=start, end_time="2022-06-30")["$close"]
    close = close.swaplevel().sort_index().unstack("instrument")
    by_hand = (close.shift(-5) / close - 1).stack().rename_axis(["datetime", "instrument"])
    common = realised[5].dropna().index.intersection(by_hand.dropna().index)
    assert len(common) > 1000
    np.testing.assert_allclose(realised[5].loc[common], by_hand.loc[common], rtol=1e-5)

    label = load_label(market="csi300", start=start, end=end).dropna()
    rng = np.random.default_rng(0)
    noise = pd.Series(rng.normal(size=len(label)), index=label.index)
    forecasts = {1: noise, 2: realised[2], 5: pd.Series(rng.normal(size=len(label)), index=label.index)}
    table = horizon_table(noise, label, forecasts, {k: realised[k] for k in (1, 2, 5)})
    own = table.loc["t->t+2 vs own span"]
    assert own["RankIC"] == pytest.approx(1.0) and own["IC"] == pytest.approx(1.0)
    assert own["label"] == "close[t+2]/close[t]-1 (own span)" and own["label_days"] == 2
    # the same forecast against the headline label t+1 -> t+2 is far from perfect
    assert table.loc["t->t+2 vs headline label", "RankIC"] < 0.9
    assert abs(table.loc["t->t+5 vs own span", "RankIC"]) < 0.1  # noise
    assert table.loc["t->t+5 vs own span", "days"] == table.loc["t->t+2 vs own span", "days"]  # data runs past end
    assert list(table.index[:2]) == ["headline signal", "t->t+1 vs own span"]
