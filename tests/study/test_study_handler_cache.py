"""The study's Qlib handler cache survives an interrupted write: a rerun rebuilds, never loads half a pickle."""
from __future__ import annotations

import pickle

import pandas as pd
import pytest
from study_test_helpers import study_dict

from kronos_quant.study.config import study_config_from_dict

pytestmark = pytest.mark.slow  # Alpha158 on the tiny market, a few times (~30 s on 2 shared cores)


def _tasks(provider, out):
    from kronos_quant.study.registry import get_signal
    from kronos_quant.study.rolling import window_tasks
    from kronos_quant.study.run import init_qlib

    config = study_config_from_dict(study_dict(provider, out, signals=("lightgbm_alpha158",)))
    init_qlib(config)
    return window_tasks(config, get_signal("lightgbm_alpha158"))


def _handler_frame(task) -> pd.DataFrame:
    path = task["dataset"]["kwargs"]["handler"][len("file://"):]
    with open(path, "rb") as handle:
        return pickle.load(handle).fetch()


def test_an_interrupted_handler_cache_write_is_rebuilt_on_rerun(tiny_market, tmp_path, monkeypatch):
    from qlib.utils.serial import Serializable

    reference = _tasks(tiny_market, tmp_path / "reference")
    original = Serializable.to_pickle

    def half_then_interrupt(self, path, **kwargs):
        original(self, path, **kwargs)
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(Serializable, "to_pickle", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        _tasks(tiny_market, tmp_path / "out")
    cache = tmp_path / "out" / "handler_cache"
    assert list(cache.iterdir()) == []  # no truncated pickle (nor temporary file) left behind
    monkeypatch.setattr(Serializable, "to_pickle", original)
    resumed = _tasks(tiny_market, tmp_path / "out")
    assert [t["dataset"]["kwargs"]["handler"].rsplit("/", 1)[1] for t in resumed] == \
           [t["dataset"]["kwargs"]["handler"].rsplit("/", 1)[1] for t in reference]  # same names: same task hashes
    for task, expected in zip(resumed, reference):
        pd.testing.assert_frame_equal(_handler_frame(task), _handler_frame(expected))


def test_a_truncated_or_unmarked_handler_pickle_is_rebuilt(tiny_market, tmp_path, caplog):
    tasks = _tasks(tiny_market, tmp_path / "out")
    first = tasks[0]["dataset"]["kwargs"]["handler"][len("file://"):]
    expected = _handler_frame(tasks[0])
    with open(first, "rb") as handle:
        data = handle.read()
    with open(first, "wb") as handle:
        handle.write(data[:1000])  # truncated (an older version's interrupted write)
    with caplog.at_level("WARNING", logger="kronos_quant.study.rolling"):
        again = _tasks(tiny_market, tmp_path / "out")
    assert "building it again" in caplog.text
    pd.testing.assert_frame_equal(_handler_frame(again[0]), expected)
