"""Runs keep their files beside their tracking store, whatever the working directory."""
from __future__ import annotations


def _files(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_file_store_lock_is_inside_the_store_not_the_working_directory(tiny_market, tmp_path, monkeypatch):
    """Qlib's own manager would lock ./<store path without its leading slash>/filelock."""
    from qlib.workflow import R

    from kronos_quant.qlib_ext.qlib_setup import init_qlib

    cwd, store = tmp_path / "cwd", tmp_path / "store" / "mlruns"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    init_qlib(provider_uri=tiny_market, tracking_uri=f"file:{store}")
    with R.start(experiment_name="kq_lock"):
        R.log_metrics(ic=0.5)
        recorder = R.get_recorder()
    assert recorder.list_metrics() == {"ic": 0.5}
    assert _files(cwd) == []
    assert (store / "filelock").is_file()


def test_sqlite_store_keeps_artifacts_under_artifact_root(tiny_market, tmp_path, monkeypatch):
    """A study's sqlite store under output_dir: artifacts go to output_dir/mlruns, not ./mlruns."""
    from qlib.workflow import R

    from kronos_quant.qlib_ext.qlib_setup import init_qlib

    cwd, out = tmp_path / "cwd", tmp_path / "study_out"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    init_qlib(provider_uri=tiny_market, tracking_uri=f"sqlite:///{out / 'mlflow.db'}", artifact_root=out / "mlruns")
    with R.start(experiment_name="walk forward/1"):
        R.save_objects(**{"pred.pkl": [1.0, 2.0]})
        run_id = R.get_recorder().id
    assert _files(cwd) == []
    saved = out / "mlruns" / "walk_forward_1" / run_id / "artifacts" / "pred.pkl"
    assert saved.is_file()
    assert R.get_exp(experiment_name="walk forward/1").list_recorders()[run_id].load_object("pred.pkl") == [1.0, 2.0]


def test_sqlite_store_without_artifact_root_keeps_artifacts_beside_the_database(tiny_market, tmp_path, monkeypatch):
    """No artifact_root given (a notebook's or a user's own sqlite store): <db folder>/mlruns, never ./mlruns."""
    from qlib.workflow import R

    from kronos_quant.qlib_ext.qlib_setup import init_qlib, sqlite_artifact_root

    cwd, out = tmp_path / "cwd", tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    init_qlib(provider_uri=tiny_market, tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    with R.start(experiment_name="notebook"):
        R.save_objects(**{"pred.pkl": [3.0]})
        run_id = R.get_recorder().id
    assert _files(cwd) == []
    assert (out / "mlruns" / "notebook" / run_id / "artifacts" / "pred.pkl").is_file()
    assert sqlite_artifact_root("sqlite:///mlflow.db").as_posix() == "mlruns"  # the demo's store: unchanged
    assert sqlite_artifact_root("file:/x/mlruns") is None
