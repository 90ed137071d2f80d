"""A feature-cache fill interrupted mid-way, then rerun, gives exactly the features of an uninterrupted fill."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # trains one tiny fold model (~20-40 s on 2 shared cores)

ROWS = ("2021-07-01", "2021-10-29")  # one walk-forward fold (wf2021), ~85 trading days
TINY = dict(history_start="2020-01-02", valid_months=6, refit_years=1,
            forecast=dict(lookback=20, horizon=5, sample_count=2), horizons=[1, 2, 5],
            tokenizer=dict(d_in=6, d_model=16, n_heads=2, ff_dim=32, n_enc_layers=1, n_dec_layers=1, s1_bits=4,
                           s2_bits=4, group_size=4),
            predictor=dict(s1_bits=4, s2_bits=4, n_layers=1, d_model=16, n_heads=2, ff_dim=32),
            train=dict(lr=3e-3, warmup_steps=2, batch_size=32, epochs=1, windows_per_epoch=64, valid_windows=32,
                       eval_every=2, seed=7, log_every=2, device="cpu"))


class Interrupt(RuntimeError):
    pass


def test_an_interrupted_cache_fill_resumes_to_the_uninterrupted_features(tiny_market, init_qlib, tmp_path,
                                                                         monkeypatch):
    import kronos_quant.qlib_ext.kronos_factors as kf
    from kronos_quant.factors.config import KronosFactorConfig

    init_qlib(tiny_market)
    monkeypatch.setattr(kf, "BLOCK_DAYS", 20)  # ~5 blocks in the range
    config = KronosFactorConfig.from_mapping({**TINY, "provider_uri": str(tiny_market), "work_dir": str(tmp_path)})
    uninterrupted = kf.kronos_features(config, *ROWS)
    shutil.rmtree(tmp_path / "cache")  # keep the fold model, fill the cache again

    scored, original = [], kf.score_windows

    def interrupted(config, pair, windows, start, end):
        if len(scored) == 2:
            raise Interrupt("simulated interrupt while scoring the third block")
        scored.append(pd.Timestamp(start))
        return original(config, pair, windows, start, end)

    monkeypatch.setattr(kf, "score_windows", interrupted)
    with pytest.raises(Interrupt):
        kf.kronos_features(config, *ROWS)
    assert len(list((tmp_path / "cache").glob("*/*.parquet"))) == 2  # two blocks stored before the interrupt

    rescored = []

    def counting(config, pair, windows, start, end):
        rescored.append(pd.Timestamp(start))
        return original(config, pair, windows, start, end)

    monkeypatch.setattr(kf, "score_windows", counting)
    resumed = kf.kronos_features(config, *ROWS)
    assert scored[0] not in rescored and scored[1] not in rescored and len(rescored) >= 2  # only the rest is scored
    pd.testing.assert_frame_equal(resumed, uninterrupted, check_exact=True)


def test_a_truncated_fold_record_retrains_the_fold_instead_of_failing(tiny_market, init_qlib, tmp_path, caplog):
    import kronos_quant.qlib_ext.kronos_factors as kf
    from kronos_quant.factors.config import KronosFactorConfig

    init_qlib(tiny_market)
    rows = ("2021-07-01", "2021-08-31")
    config = KronosFactorConfig.from_mapping({**TINY, "provider_uri": str(tiny_market), "work_dir": str(tmp_path)})
    first = kf.kronos_features(config, *rows)
    (done,) = (tmp_path / "models").glob("*/done.json")
    done.write_text(done.read_text()[:25])  # an interrupted write of an older version
    shutil.rmtree(tmp_path / "cache")
    with caplog.at_level("WARNING", logger="kronos_quant.qlib_ext.kronos_factors"):
        again = kf.kronos_features(config, *rows)
    assert "training the fold again" in caplog.text
    pd.testing.assert_frame_equal(again, first, check_exact=True)  # seeded CPU training: the same model again
