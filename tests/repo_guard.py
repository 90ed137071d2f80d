"""pytest plugin: the suite writes only to temporary folders, never into the repository.

- At session start, Qlib's default MLflow store (``file:<cwd at import>/mlruns``, what any ``qlib.init``
  without an ``exp_manager`` uses) is pointed at the session's temporary folder, through the package's
  ``KronosExpManager``.
- At session end, the run-output folders of the repository (``mlruns``, ``mlflow.db``, ``tmp``,
  ``outputs``, ``reports``, ``checkpoints``) and its top level are compared with their state at session
  start; anything new fails the session and is listed, so ``git status`` (ignored files included)
  stays as it was.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
WATCHED = ("mlruns", "mlflow.db", "tmp", "outputs", "reports", "checkpoints")
_STATE: dict = {}


def repo_outputs(root: Path = REPO_ROOT) -> set[str]:
    """Top-level names of ``root`` plus every file under its :data:`WATCHED` run-output folders."""
    found = {entry.name for entry in root.iterdir() if entry.name not in ("__pycache__", ".pytest_cache")}
    for name in WATCHED:
        base = root / name
        if base.is_file():
            found.add(name)
        for folder, _, files in os.walk(base):
            found.update(str(Path(folder, file).relative_to(root)) for file in files)
    return found


def pytest_sessionstart(session) -> None:
    _STATE["before"] = repo_outputs()


@pytest.fixture(scope="session", autouse=True)
def qlib_default_store_in_tmp(tmp_path_factory):
    """Qlib's default ``exp_manager`` uri -> a temporary folder (it would be ``./mlruns`` of the repo)."""
    try:
        import qlib.config
    except ImportError:  # the core layers are tested without qlib too
        yield
        return
    # qlib.init resets C from C's own deep copy of the defaults; init_qlib's default_tracking_uri reads the
    # module-level dict. Both are patched.
    uri = f"file:{tmp_path_factory.mktemp('qlib_default_store') / 'mlruns'}"
    managers = [qlib.config.C.__dict__["_default_config"]["exp_manager"], qlib.config._default_config["exp_manager"]]
    saved = [(dict(manager), dict(manager["kwargs"])) for manager in managers]
    for manager in managers:
        manager["kwargs"]["uri"] = uri
        # tests that call qlib.init directly get the package's manager, which locks inside its store (Qlib's
        # own locks a path relative to the working directory, i.e. inside the repository)
        manager.update({"class": "KronosExpManager", "module_path": "kronos_quant.qlib_ext.exp_manager"})
    yield
    for manager, (fields, kwargs) in zip(managers, saved):
        manager.clear()
        manager.update(fields)
        manager["kwargs"] = kwargs


def pytest_sessionfinish(session, exitstatus) -> None:
    if "before" not in _STATE or os.environ.get("KRONOS_ALLOW_REPO_OUTPUTS"):
        return
    new = sorted(repo_outputs() - _STATE["before"])
    if new:
        shown = "\n  ".join(new[:20]) + (f"\n  ... and {len(new) - 20} more" if len(new) > 20 else "")
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (f"the test suite wrote into the repository ({REPO_ROOT}); tests must use tmp_path. "
                   f"New paths:\n  {shown}")
        if reporter is not None:
            reporter.write_line(message, red=True)
        else:
            print(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
