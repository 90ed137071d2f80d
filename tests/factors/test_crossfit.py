"""Cross-fitting plans: no scored date lies in (or next to) its own model's training period."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.factors.crossfit import Fold, assign_folds, check_plan, gap_days, walk_forward_plan, yearly_kfold_plan

DAYS = pd.bdate_range("2019-01-01", "2024-06-28")


def _assert_out_of_sample(folds, dates, embargo):
    owner = assign_folds(dates, folds, embargo_days=embargo)
    for number, fold in enumerate(folds):
        mine = dates[owner == number]
        assert len(mine) > 0
        for span in fold.seen:
            assert gap_days(span, mine).min() >= embargo  # never inside, never within the embargo


@pytest.mark.parametrize("refit, cap", [(1, None), (2, 3)])
def test_walk_forward_models_only_saw_the_past(refit, cap):
    folds = walk_forward_plan((DAYS[0], DAYS[-1]), history_start="2010-01-04", refit_years=refit,
                              max_train_years=cap, embargo_days=14)
    assert len(folds) == (6 if refit == 1 else 3)
    _assert_out_of_sample(folds, DAYS, 14)
    for fold in folds:  # tradeable: everything seen ends before the first scored day
        assert max(span[1] for span in fold.seen) < fold.score[0]
    if cap:
        assert folds[-1].train[0][0] == pd.Timestamp("2019-01-01")  # 2022-01-01 valid start - 3 years


def test_kfold_models_train_around_their_fold_and_never_inside():
    folds = yearly_kfold_plan(("2019-01-01", "2024-06-28"), history_start="2010-01-04", data_end="2024-06-28",
                              k=3, embargo_days=14)
    assert [f.score[0].year for f in folds] == [2019, 2021, 2023]
    assert len(folds[0].train) == 2  # years before and after the fold
    _assert_out_of_sample(folds, DAYS, 14)


def test_a_plan_that_trains_on_its_scored_dates_is_rejected():
    leaky = Fold(name="leaky", train=(("2015-01-01", "2021-06-30"),), valid=("2021-07-01", "2021-12-15"),
                 score=("2021-01-01", "2021-12-31"))
    with pytest.raises(ValueError, match="within 14 days of the dates it scores"):
        check_plan([leaky], embargo_days=14)
    with pytest.raises(ValueError, match="would be in-sample"):
        assign_folds(pd.DatetimeIndex(["2021-03-01"]), [leaky], embargo_days=14)


def test_dates_outside_every_fold_and_short_histories_are_clear_errors():
    folds = walk_forward_plan(("2021-01-01", "2021-12-31"), history_start="2015-01-01")
    with pytest.raises(ValueError, match="no fold scores 2022-01-03"):
        assign_folds(pd.DatetimeIndex(["2021-06-01", "2022-01-03"]), folds)
    with pytest.raises(ValueError, match="shorter than"):  # no history before the first scored year
        walk_forward_plan(("2021-01-01", "2021-12-31"), history_start="2019-12-01")
    with pytest.raises(ValueError, match="between 1 and the 2 scored years"):
        yearly_kfold_plan(("2021-01-01", "2022-12-31"), history_start="2015-01-01", data_end="2024-01-01", k=3)


def test_gap_days_counts_calendar_days_to_a_span():
    span = (pd.Timestamp("2021-01-10"), pd.Timestamp("2021-01-20"))
    dates = pd.DatetimeIndex(["2021-01-01", "2021-01-15", "2021-01-25"])
    np.testing.assert_array_equal(gap_days(span, dates), [9, 0, 5])
