"""The study end to end on the tiny synthetic market: windows, same rows, resume, and no look-ahead."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from study_test_helpers import study_dict

from kronos_quant.study.config import study_config_from_dict

pytestmark = pytest.mark.slow

FIRST_TEST_END = pd.Timestamp("2022-04-01")  # the first quarterly window's last test day on the tiny market


def test_window_tasks_tile_the_span(tiny_market, tmp_path):
    from kronos_quant.study.registry import get_signal
    from kronos_quant.study.rolling import window_tasks
    from kronos_quant.study.run import init_qlib

    config = study_config_from_dict(study_dict(tiny_market, tmp_path / "out"))
    init_qlib(config)
    tasks = window_tasks(config, get_signal("kronos"))
    tests = [tuple(pd.Timestamp(t) for t in task["dataset"]["kwargs"]["segments"]["test"]) for task in tasks]
    assert tests[0][0] == pd.Timestamp("2022-01-04") and tests[-1][1] == pd.Timestamp("2022-06-24")
    for (_, end), (start, _) in zip(tests, tests[1:]):
        assert start > end  # no overlap
    for task in tasks:
        segments = task["dataset"]["kwargs"]["segments"]
        assert pd.Timestamp(segments["train"][1]) < pd.Timestamp(segments["valid"][0])
        assert pd.Timestamp(segments["valid"][1]) < pd.Timestamp(segments["test"][0])
        handler_end = pd.Timestamp(task["dataset"]["kwargs"]["handler"]["kwargs"]["end_time"])
        assert handler_end == pd.Timestamp(segments["test"][1])  # never loads past its own test period


def test_window_tasks_without_future_calendar(tiny_market, tmp_path):
    """A provider without day_future.txt (like the real CSI300 one): the last window still ends at test_end."""
    from kronos_quant.study.registry import get_signal
    from kronos_quant.study.rolling import window_tasks
    from kronos_quant.study.run import init_qlib

    provider = tmp_path / "no_future"
    shutil.copytree(tiny_market, provider)
    (provider / "calendars" / "day_future.txt").unlink(missing_ok=True)
    config = study_config_from_dict(study_dict(provider, tmp_path / "out", roll_step=40, test_end="2022-06-28"))
    init_qlib(config)
    tasks = window_tasks(config, get_signal("kronos"))
    last = tasks[-1]["dataset"]["kwargs"]
    assert pd.Timestamp(last["segments"]["test"][1]) == pd.Timestamp("2022-06-28")
    assert pd.Timestamp(last["handler"]["kwargs"]["end_time"]) == pd.Timestamp("2022-06-28")
    assert len(tasks) >= 3


def test_study_end_to_end_and_resume(tiny_market, tmp_path):
    from qlib.workflow import R

    from kronos_quant.study.registry import get_signal
    from kronos_quant.study.rolling import finished_windows, run_rolled_signal
    from kronos_quant.study.run import run_study

    config = study_config_from_dict(study_dict(tiny_market, tmp_path / "out"))
    result = run_study(config)
    assert len(result.windows["kronos"]) == 2  # two quarterly windows, both trained by this run
    assert list(result.summary.index) == ["kronos", "reversal_5d", "random"]
    # every signal on the same rows: the aligned frame has no gap and each signal has the same IC days
    assert np.isfinite(result.frame.to_numpy()).all()
    days = {name: ic["RankIC"].notna().sum() for name, ic in result.ics.items()}
    assert len(set(days.values())) == 1 and result.summary["days"].nunique() == 1
    # the tiny market plants a short-term reversal: the naive factor finds it, the random signal does not
    assert result.summary.loc["reversal_5d", "RankIC"] > 0.02
    assert abs(result.summary.loc["random", "RankIC"]) < 0.03
    assert [name for name in result.horizons.index if "own span" in name] == [
        "t->t+1 vs own span", "t->t+2 vs own span", "t->t+5 vs own span"]  # each horizon against its own label
    assert (result.horizons.loc["t->t+5 vs own span", "label"] == "close[t+5]/close[t]-1 (own span)")
    assert result.cost_line.shape == (4, 3)
    line = result.cost_line["reversal_5d"].to_numpy()
    assert np.all(np.diff(line) < 0)  # more cost, less excess return
    for name in ("study.html", "headline.csv", "ic_by_year.csv", "ic_by_half.csv", "cost_line.csv",
                 "incremental_ic.csv", "figures/cumulative_rank_ic.png", "figures/rank_ic_heatmap.png"):
        assert (tmp_path / "out" / "report" / name).is_file(), name
    html = (tmp_path / "out" / "report" / "study.html").read_text()
    assert "reversal_5d" in html and "%" in html and "data:image/png;base64" in html

    # resume: a rerun trains nothing and merges the same predictions
    spec = get_signal("kronos")
    pred, trained = run_rolled_signal(config, spec)
    assert trained == []
    pd.testing.assert_series_equal(pred["score"].reindex(result.frame.index), result.frame["kronos"],
                                   check_names=False)
    # an interrupted study (last window lost) retrains only that window, warm-started from the first
    done = finished_windows(config.experiment("kronos"))
    last = max(done)
    R.get_exp(experiment_name=config.experiment("kronos")).delete_recorder(done[last][0].info["id"])
    pred_again, trained = run_rolled_signal(config, spec)
    assert trained == [last]
    pd.testing.assert_frame_equal(pred_again, pred, check_exact=True)


def _perturb_after(provider, cutoff: pd.Timestamp, factor: float = 1.3) -> None:
    """Scale every price/volume bin of every stock after ``cutoff`` (Qlib bin: float32, [start index, values])."""
    calendar = pd.DatetimeIndex(pd.read_csv(provider / "calendars" / "day.txt", header=None)[0])
    first_changed = int(np.searchsorted(calendar, cutoff, side="right"))
    for path in (provider / "features").glob("*/*.day.bin"):
        if path.name.split(".")[0] not in ("open", "high", "low", "close", "volume"):
            continue
        data = np.fromfile(path, dtype="<f4")
        start = int(data[0])
        position = max(first_changed - start, 0) + 1
        data[position:] *= factor
        data.tofile(path)


def test_earlier_predictions_ignore_later_data(tiny_market, tmp_path):
    """Perturb every bar after the first window's test period: its merged predictions stay bit-identical."""
    from kronos_quant.study.registry import get_signal
    from kronos_quant.study.rolling import run_rolled_signal
    from kronos_quant.study.run import init_qlib

    perturbed = tmp_path / "perturbed"
    shutil.copytree(tiny_market, perturbed)
    _perturb_after(perturbed, FIRST_TEST_END)
    preds = []
    for provider, out in ((tiny_market, tmp_path / "a"), (perturbed, tmp_path / "b")):
        config = study_config_from_dict(study_dict(provider, out, signals=("kronos",)))
        init_qlib(config)
        pred, _ = run_rolled_signal(config, get_signal("kronos"))
        preds.append(pred)
    early = [p[p.index.get_level_values("datetime") <= FIRST_TEST_END] for p in preds]
    late = [p[p.index.get_level_values("datetime") > FIRST_TEST_END] for p in preds]
    assert len(early[0]) > 100
    pd.testing.assert_frame_equal(early[0], early[1], check_exact=True)
    assert not np.allclose(late[0]["score"].to_numpy(), late[1]["score"].reindex(late[0].index).to_numpy())
