"""The feature cache: identical hits; a changed setting, checkpoint or data file misses; a longer range
computes only the new dates."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from kronos_quant.factors.cache import FeatureCache, missing_spans, provider_digest, read_calendar

KEY = {"tokenizer": "tok-digest", "predictor": "pred-digest", "forecast": {"lookback": 20, "T": 1.0}}


@pytest.fixture()
def provider(tiny_market, tmp_path):
    """A private copy of the tiny market (tests edit its files)."""
    return shutil.copytree(tiny_market, tmp_path / "market")


def _frame(dates, seed=0) -> pd.DataFrame:
    index = pd.MultiIndex.from_product([dates, ["SH600000", "SZ000001"]], names=["datetime", "instrument"])
    values = np.random.default_rng(seed).normal(size=(len(index), 2))
    return pd.DataFrame(values, index=index, columns=["kronos_ret_1", "kronos_vol"])


def _digest(provider):
    return lambda end: provider_digest(provider, "csi300", end)


def _edit_bin(provider, day: pd.Timestamp) -> None:
    """Change one close value on ``day`` of a csi300 stock that has data then."""
    calendar_position = int(read_calendar(provider).get_loc(day))
    for line in (provider / "instruments" / "csi300.txt").read_text().splitlines():
        path = provider / "features" / line.split()[0].lower() / "close.day.bin"
        data = np.fromfile(path, dtype="<f4")
        position = calendar_position - int(data[0]) + 1
        if 1 <= position < len(data):
            break
    data[position] *= 1.01
    data.tofile(path)


def test_hit_returns_identical_features_and_a_changed_key_misses(provider, tmp_path):
    calendar = read_calendar(provider)
    dates = calendar[100:160]
    cache, digest = FeatureCache(tmp_path / "cache"), _digest(provider)
    frame = _frame(dates)
    cache.store(KEY, frame, dates[0], dates[-1], digest(dates[-1]))
    cached, missing = cache.lookup(KEY, dates, digest)
    assert len(missing) == 0
    pd.testing.assert_frame_equal(cached, frame, check_exact=True)
    for changed in ({**KEY, "forecast": {"lookback": 20, "T": 0.6}}, {**KEY, "predictor": "other-checkpoint"}):
        cached, missing = cache.lookup(changed, dates, digest)
        assert cached is None and missing.equals(dates)


def test_a_changed_data_file_under_the_range_misses_and_one_after_it_does_not(provider, tmp_path):
    calendar = read_calendar(provider)
    dates = calendar[100:160]
    cache = FeatureCache(tmp_path / "cache")
    cache.store(KEY, _frame(dates), dates[0], dates[-1], _digest(provider)(dates[-1]))
    _edit_bin(provider, calendar[300])  # after the block: its data is unchanged
    assert len(cache.lookup(KEY, dates, _digest(provider))[1]) == 0
    _edit_bin(provider, calendar[50])  # inside a lookback before the block
    cached, missing = cache.lookup(KEY, dates, _digest(provider))
    assert cached is None and missing.equals(dates)


def test_a_longer_range_reports_only_the_new_dates(provider, tmp_path):
    calendar = read_calendar(provider)
    cache, digest = FeatureCache(tmp_path / "cache"), _digest(provider)
    first = calendar[100:160]
    cache.store(KEY, _frame(first), first[0], first[-1], digest(first[-1]))
    longer = calendar[80:200]
    cached, missing = cache.lookup(KEY, longer, digest)
    assert missing.equals(longer.difference(first))
    assert missing_spans(missing, calendar) == [(calendar[80], calendar[99]), (calendar[160], calendar[199])]
    assert cached.index.get_level_values("datetime").unique().equals(first)


def test_store_rejects_a_frame_without_the_qlib_index(tmp_path):
    frame = pd.DataFrame({"kronos_vol": [0.1]})
    with pytest.raises(ValueError, match="indexed"):
        FeatureCache(tmp_path).store(KEY, frame, "2021-01-04", "2021-01-04", "digest")


def _stored_block(provider, tmp_path):
    """A cache with one stored block of 60 days: (cache, dates, frame, parquet path, json path)."""
    dates = read_calendar(provider)[100:160]
    cache, frame = FeatureCache(tmp_path / "cache"), _frame(dates)
    stem = cache.store(KEY, frame, dates[0], dates[-1], _digest(provider)(dates[-1]))
    return cache, dates, frame, stem.with_suffix(".parquet"), stem.with_suffix(".json")


def _truncate(path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _edit_parquet_value(path):
    """Rewrite the parquet file with one feature value changed (a valid parquet file, other bytes)."""
    table = pd.read_parquet(path)
    table.loc[3, "kronos_vol"] += 1.0
    table.to_parquet(path, index=False)


def _foreign_json(path):
    path.write_text('{"start": "2020-01-02", "end": "2030-01-01"}')


def _garbage_json(path):
    path.write_text('{"start": "2020-01-02", "end": ')


@pytest.mark.parametrize("target, damage", [("parquet", _truncate), ("parquet", _edit_parquet_value),
                                            ("json", _truncate), ("json", _foreign_json), ("json", _garbage_json),
                                            ("parquet", lambda path: path.unlink())])
def test_a_damaged_block_is_never_served_and_is_recomputed(provider, tmp_path, target, damage, caplog):
    cache, dates, frame, parquet, meta = _stored_block(provider, tmp_path)
    damage(parquet if target == "parquet" else meta)
    with caplog.at_level("WARNING", logger="kronos_quant.factors.cache"):
        cached, missing = cache.lookup(KEY, dates, _digest(provider))
    assert cached is None and missing.equals(dates)
    assert "feature cache" in caplog.text
    assert not meta.exists() and not parquet.exists()  # discarded, so the next fill stores a fresh block
    cache.store(KEY, frame, dates[0], dates[-1], _digest(provider)(dates[-1]))
    cached, missing = cache.lookup(KEY, dates, _digest(provider))
    assert len(missing) == 0
    pd.testing.assert_frame_equal(cached, frame, check_exact=True)


def test_a_block_copied_from_another_entry_is_not_served(provider, tmp_path):
    """Same dates, same data digest, other key (e.g. other checkpoints): copying its files in is detected."""
    cache, dates, frame, parquet, meta = _stored_block(provider, tmp_path)
    other_key = {**KEY, "predictor": "other-checkpoint"}
    other_stem = cache.store(other_key, _frame(dates, seed=1), dates[0], dates[-1], _digest(provider)(dates[-1]))
    for suffix in (".parquet", ".json"):
        (meta.parent / other_stem.with_suffix(suffix).name).write_bytes(other_stem.with_suffix(suffix).read_bytes())
    cached, missing = cache.lookup(KEY, dates, _digest(provider))
    assert cached is None and missing.equals(dates)


def test_an_entry_whose_key_file_holds_another_key_is_emptied(provider, tmp_path):
    cache, dates, frame, parquet, meta = _stored_block(provider, tmp_path)
    (meta.parent / "key.json").write_text('{"tokenizer": "someone else"}')
    cached, missing = cache.lookup(KEY, dates, _digest(provider))
    assert cached is None and missing.equals(dates)
    assert not parquet.exists()
    assert (meta.parent / "key.json").read_text().count("tok-digest") == 1  # the right key is written back


def test_a_block_without_integrity_fields_from_an_older_version_is_recomputed(provider, tmp_path):
    import json

    cache, dates, frame, parquet, meta = _stored_block(provider, tmp_path)
    legacy = json.loads(meta.read_text())
    del legacy["parquet_sha256"], legacy["key_digest"]
    meta.write_text(json.dumps(legacy))
    cached, missing = cache.lookup(KEY, dates, _digest(provider))
    assert cached is None and missing.equals(dates)
