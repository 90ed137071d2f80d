"""Pickles from run folders load as data only: pandas objects and kronos_quant settings yes, code never."""
from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pandas as pd
import pytest

from kronos_quant.inference.sampling import SamplingConfig
from kronos_quant.safe_pickle import RestrictedUnpickler, load_pickle


class _RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _frames():
    index = pd.MultiIndex.from_product([pd.bdate_range("2024-01-01", periods=3), ["SH600000", "SZ000001"]],
                                       names=["datetime", "instrument"])
    yield pd.Series(np.arange(6.0), index=index, name="score")
    yield pd.DataFrame({"score": np.arange(6.0), "n": np.arange(6)}, index=index)
    yield pd.DataFrame(np.ones((3, 2)), index=pd.bdate_range("2024-01-01", periods=3),
                       columns=pd.MultiIndex.from_tuples([("excess_return_without_cost", "mean"), ("a", "b")]))
    yield {"t": pd.Timestamp("2024-01-01", tz="Asia/Shanghai"), "d": pd.Timedelta("1D"), "f": np.float64(1.5),
           "c": pd.Categorical(["a", "b"]), "nat": pd.NaT}
    yield SamplingConfig(temperature=0.6)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_data_round_trips(tmp_path, protocol):
    for number, value in enumerate(_frames()):
        path = tmp_path / f"{number}.pkl"
        path.write_bytes(pickle.dumps(value, protocol=protocol))
        loaded = load_pickle(path)
        if isinstance(value, (pd.Series, pd.DataFrame)):
            pd.testing.assert_frame_equal(pd.DataFrame(loaded), pd.DataFrame(value))
        elif isinstance(value, dict):
            assert loaded["t"] == value["t"] and loaded["f"] == 1.5 and list(loaded["c"]) == ["a", "b"]
        else:
            assert loaded == value


@pytest.mark.parametrize("payload", [_RunsCode("MARKER"), pd.read_pickle, eval, open])
def test_code_is_refused(tmp_path, payload):
    marker = tmp_path / "pwned"
    if isinstance(payload, _RunsCode):
        payload.marker = str(marker)
    path = tmp_path / "pred.pkl"
    path.write_bytes(pickle.dumps({"x": payload}))
    with pytest.raises(ValueError, match=r"pred.pkl cannot be loaded safely .*refusing to load"):
        load_pickle(path)
    assert not marker.exists()


def test_other_classes_only_when_allowed(tmp_path):
    class_path = tmp_path / "model.pkl"
    from kronos_quant.model.config import KronosConfig  # a dataclass: allowed

    class_path.write_bytes(pickle.dumps(KronosConfig()))
    assert load_pickle(class_path) == KronosConfig()
    assert RestrictedUnpickler.allow == ()


def test_corrupt_pickle_is_named(tmp_path):
    path = tmp_path / "params.pkl"
    path.write_bytes(pickle.dumps({"a": 1})[:-3])
    with pytest.raises(ValueError, match="params.pkl cannot be loaded safely"):
        load_pickle(path)


class _Settings:
    """A plain object of an allowed package, pickled the ordinary way (NEWOBJ + state)."""

    def __init__(self, value):
        self.value = value


class _Constructed:
    def __init__(self, command):
        raise AssertionError("the constructor ran")

    def __reduce__(self):
        return (_Constructed, ("rm -rf /",))


def test_object_unpickler_rebuilds_objects_but_never_calls_them(tmp_path, monkeypatch):
    import kronos_quant.safe_pickle as safe_pickle
    from kronos_quant.safe_pickle import ObjectUnpickler

    monkeypatch.setattr(ObjectUnpickler, "packages", (_Settings.__module__,))
    monkeypatch.setattr(safe_pickle, "UNSAFE_MODULE_PARTS", ("memmap",))  # this test module's name holds "pickle"
    rebuilt = ObjectUnpickler(io.BytesIO(pickle.dumps({"s": _Settings(3), "x": pd.Series([1.0])}))).load()
    assert rebuilt["s"].value == 3 and rebuilt["x"].iloc[0] == 1.0
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to call .*_Constructed"):
        ObjectUnpickler(io.BytesIO(pickle.dumps(_Constructed.__new__(_Constructed)))).load()
    with pytest.raises(pickle.UnpicklingError, match="refusing to load posix.system"):
        ObjectUnpickler(io.BytesIO(pickle.dumps(_RunsCode(tmp_path / "m")))).load()
