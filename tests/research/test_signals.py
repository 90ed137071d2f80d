"""Hand-computed checks for kronos_quant.research.signals."""
import math

import numpy as np
import pytest

from kronos_quant.research import signals


def _paths() -> tuple[np.ndarray, np.ndarray]:
    """2 instruments x 2 paths x 2 bars x 6 fields; only close (index 3) matters."""
    closes = np.array(
        [
            [[11.0, 12.0], [9.0, 10.0]],  # instrument 0, last close 10
            [[22.0, 22.0], [22.0, 22.0]],  # instrument 1, last close 20
        ]
    )
    paths = np.zeros((2, 2, 2, 6))
    paths[..., 3] = closes
    paths[..., 0] = -1.0  # other fields must be ignored
    return paths, np.array([10.0, 20.0])


@pytest.mark.parametrize(
    "name, expected",
    [
        ("expected_return", [0.1, 0.1]),  # mean(12, 10) / 10 - 1 ; 22 / 20 - 1
        ("last_close_return", [0.1, 0.1]),
        ("mean_return", [0.05, 0.1]),  # mean path [10, 11] -> 10.5 / 10 - 1
        ("max_return", [0.1, 0.1]),
        ("min_return", [0.0, 0.1]),
        ("risk_adjusted_return", [1.0, np.nan]),  # end rets (0.2, 0.0): 0.1 / 0.1; identical paths: NaN
        ("prob_up", [0.5, 1.0]),  # 10 > 10 is not up
    ],
)
def test_signal_values(name, expected):
    paths, last = _paths()
    np.testing.assert_allclose(signals.compute_signal(name, paths, last), expected, rtol=1e-12)


def test_predicted_volatility_hand_computed():
    paths, last = _paths()
    path_a = abs(math.log(1.1) - math.log(12 / 11)) / 2  # population std of 2 numbers = |a - b| / 2
    path_b = abs(math.log(0.9) - math.log(10 / 9)) / 2
    inst1 = math.log(1.1) / 2  # log returns (log 1.1, 0)
    np.testing.assert_allclose(
        signals.predicted_volatility(paths, last), [(path_a + path_b) / 2, inst1], rtol=1e-12
    )


def test_risk_adjusted_needs_two_paths_and_spread():
    paths, last = _paths()
    out = signals.risk_adjusted_return(paths, last)
    assert out[0] == pytest.approx(1.0) and np.isnan(out[1])  # instrument 2's paths end at the same close
    with pytest.raises(ValueError, match=">= 2 sample paths"):
        signals.risk_adjusted_return(paths[:, :1], last)
    with pytest.raises(TypeError):
        signals.risk_adjusted_return(paths, last, eps=1e-8)  # no hidden floor any more


def test_unknown_name_lists_valid_names():
    paths, last = _paths()
    with pytest.raises(ValueError, match="expected_return.*prob_up"):
        signals.compute_signal("nope", paths, last)


@pytest.mark.parametrize(
    "bad_paths, bad_last, match",
    [
        (np.zeros((2, 2, 6)), np.ones(2), "shape"),
        (np.ones((2, 1, 1, 3)), np.ones(2), "F >= 4"),
        (np.ones((2, 1, 1, 6)), np.ones(3), "last_close"),
        (np.ones((2, 1, 1, 6)), np.array([1.0, 0.0]), "> 0"),
        (np.full((2, 1, 1, 6), np.nan), np.ones(2), "NaN"),
    ],
)
def test_boundary_errors(bad_paths, bad_last, match):
    with pytest.raises(ValueError, match=match):
        signals.expected_return(bad_paths, bad_last)
