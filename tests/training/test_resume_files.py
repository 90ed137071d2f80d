"""resume.pt and checkpoint folders from a shared run folder: never executed, corrupt ones named, modes kept."""
from __future__ import annotations

import os
import stat

import pytest
import torch

from kronos_quant.io_utils import atomic_write, current_umask
from kronos_quant.training import fit_tokenizer
from kronos_quant.training.checkpointing import load_resume_state, save_model_dir


class _RunsCode:
    """Pickles to a call of open(marker, "w"): loading it with weights_only=False would create the marker."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_resume_state_never_runs_code(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"model": {}, "payload": _RunsCode(marker)}, tmp_path / "resume.pt")
    with pytest.raises(ValueError, match=r"resume.pt is corrupt or not a kronos-quant resume state"):
        load_resume_state(tmp_path / "resume.pt")
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a torch file", b"PK\x03\x04truncated zip"])
def test_corrupt_resume_state_says_what_to_do(tmp_path, content):
    (tmp_path / "resume.pt").write_bytes(content)
    with pytest.raises(ValueError, match=r"delete it \(or the run folder\) and train afresh, or set resume: false"):
        load_resume_state(tmp_path / "resume.pt")


def test_foreign_torch_file_is_not_a_resume_state(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "resume.pt")
    with pytest.raises(ValueError, match=r"not a kronos-quant resume state \(missing \['config'"):
        load_resume_state(tmp_path / "resume.pt")


def test_truncated_resume_state_stops_a_resumed_run(windows, make_config, tmp_path):
    train, valid = windows
    fit_tokenizer(make_config(tmp_path, max_steps=2, eval_every=2), train, valid)
    path = tmp_path / "resume.pt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=str(path)):
        fit_tokenizer(make_config(tmp_path, max_steps=4, eval_every=2, resume=True), train, valid)


@pytest.fixture()
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_writes_and_checkpoint_folders_follow_the_umask(tmp_path, umask_022, windows, make_config):
    assert current_umask() == 0o022
    atomic_write(tmp_path / "file.txt", lambda p: open(p, "w").write("x"))
    assert _mode(tmp_path / "file.txt") == 0o644
    train, valid = windows
    result = fit_tokenizer(make_config(tmp_path / "run", max_steps=2, eval_every=2), train, valid)
    assert _mode(result.last_dir) == 0o755
    for name in ("config.json", "model.safetensors"):
        assert _mode(result.last_dir / name) == 0o644, name
    assert _mode(tmp_path / "run" / "resume.pt") == 0o644


def test_a_stricter_umask_is_kept(tmp_path):
    previous = os.umask(0o077)
    try:
        atomic_write(tmp_path / "private.txt", lambda p: open(p, "w").write("x"))
        save_model_dir(_TinySaver(), tmp_path / "model")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "private.txt") == 0o600 and _mode(tmp_path / "model") == 0o700


class _TinySaver:
    def save_pretrained(self, folder):
        (folder / "config.json").write_text("{}")
