"""KronosStudyModel pieces on the tiny market: chunk-wise sampled training windows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # builds every window of a year of the tiny market


@pytest.fixture
def tiny_dataset(tiny_market):
    import qlib

    from kronos_quant.qlib_ext.dataset import KronosDataset

    qlib.init(provider_uri=str(tiny_market), region="cn", kernels=1)
    handler = {"class": "KronosHandler", "module_path": "kronos_quant.qlib_ext.handler",
               "kwargs": {"instruments": "csi300", "start_time": "2020-01-02", "end_time": "2021-12-31"}}
    return KronosDataset(handler=handler, segments={"train": ("2020-06-01", "2021-06-30"),
                                                    "valid": ("2021-07-01", "2021-12-24")}, lookback=20, horizon=5)


def test_sampled_train_windows_are_bounded_seeded_and_inside_the_segment(tiny_dataset):
    from kronos_quant.study.kronos_model import SampledTrainDataset

    full = tiny_dataset.prepare("train", mode="train")
    sampled = SampledTrainDataset(tiny_dataset, max_windows=300, chunk_days=60, seed=3)
    first, second = sampled.prepare("train", mode="train"), sampled.prepare("train", mode="train")
    n_chunks = int(np.ceil(len(pd.bdate_range("2020-06-01", "2021-06-30")) / 60)) + 1
    assert 300 <= len(first) <= 300 + n_chunks < len(full)
    assert first.index.equals(second.index) and np.array_equal(first.x, second.x)  # seeded
    assert first.index.isin(full.index).all()  # the same windows the full build makes
    rows = full.index.get_indexer(first.index)
    assert np.array_equal(full.x[rows], first.x) and np.array_equal(full.y[rows], first.y)
    other = SampledTrainDataset(tiny_dataset, max_windows=300, chunk_days=60, seed=4).prepare("train", mode="train")
    assert not other.index.equals(first.index)
    assert sampled.lookback == 20 and "valid" in sampled.segments  # everything else is the dataset's
