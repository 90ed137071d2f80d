import numpy as np
import pandas as pd
import pytest

from kronos_quant.research.ensemble import ensemble_signal


def _signal(values, instruments=("A", "B", "C")):
    index = pd.MultiIndex.from_product([pd.to_datetime(["2024-01-02"]), list(instruments)],
                                       names=["datetime", "instrument"])
    return pd.Series(values, index=index, dtype=float)


def test_ensemble_signal_is_the_mean_of_the_members():
    members = [_signal([0.1, 0.2, 0.3]), _signal([0.3, -0.2, 0.0]), _signal([0.2, 0.3, 0.6])]
    got = ensemble_signal(members)
    np.testing.assert_allclose(got.to_numpy(), [0.2, 0.1, 0.3])
    assert got.name == "ensemble" and list(got.index.names) == ["datetime", "instrument"]


def test_a_row_missing_from_a_member_is_nan_not_a_smaller_average():
    got = ensemble_signal([_signal([0.1, 0.2, 0.3]), _signal([0.3, 0.4], instruments=("A", "B"))])
    assert got.iloc[:2].tolist() == pytest.approx([0.2, 0.3]) and np.isnan(got.iloc[2])


def test_ensemble_needs_members_with_one_index_layout():
    with pytest.raises(ValueError, match="at least one"):
        ensemble_signal([])
    other = _signal([0.1, 0.2, 0.3]).rename_axis(["date", "code"])
    with pytest.raises(ValueError, match="indexed differently"):
        ensemble_signal([_signal([0.1, 0.2, 0.3]), other])
