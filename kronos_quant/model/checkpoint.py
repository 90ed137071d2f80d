"""Checkpoint I/O in the official layout: ``config.json`` + ``model.safetensors``.

Loading is strict (missing, unexpected or mis-shaped tensors are errors naming the keys) and
never falls back to random weights. Hub ids resolve through huggingface_hub's cache.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from kronos_quant.bar_frequency import parse_bar_freq
from kronos_quant.io_utils import atomic_write
from kronos_quant.model.official import KNOWN_DIGESTS, OFFICIAL_CHECKPOINTS

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
# sidecar written by this toolkit's trainers beside config.json (which stays in the official layout):
# {"bar_freq": "1D"}; folders without it (official checkpoints, older runs) load as before
TRAINED_ON_NAME = "trained_on.json"


class CheckpointError(ValueError):
    """A checkpoint does not match the network it is loaded into."""


def sha256_of(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_checkpoint_dir(path_or_hub_id: str | os.PathLike, *, revision: str | None = None,
                           cache_dir: str | os.PathLike | None = None,
                           local_files_only: bool | None = None) -> Path:
    """A local folder holding config.json and model.safetensors, from a path or a hub id.

    A hub id ("owner/name") is looked up in the huggingface_hub cache first and downloaded only
    when that is allowed and possible; otherwise a FileNotFoundError says where to put the files.
    """
    candidate = Path(os.fspath(path_or_hub_id)).expanduser()
    if candidate.is_dir():
        return check_checkpoint_dir(candidate)
    text = os.fspath(path_or_hub_id)
    local_parent = Path(text.split("/")[0]).expanduser().is_dir()  # "checkpoints/run1": a folder, not a hub id
    if (candidate.exists() or text.count("/") != 1 or text.startswith((".", "/", "~")) or "\\" in text
            or local_parent):
        raise FileNotFoundError(
            f"Checkpoint folder {text!r} does not exist (looked in {candidate.absolute()}). Pass a folder "
            f"holding {CONFIG_NAME} and {WEIGHTS_NAME}, or a Hugging Face id such as 'NeoQuasar/Kronos-small'.")
    return check_checkpoint_dir(_snapshot_from_hub(text, revision, cache_dir, local_files_only))


def check_checkpoint_dir(folder: Path) -> Path:
    missing = [name for name in (CONFIG_NAME, WEIGHTS_NAME) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"Checkpoint folder {folder} lacks {missing}. A Kronos checkpoint is a folder with {CONFIG_NAME} "
            f"and {WEIGHTS_NAME} (the layout save_pretrained writes and the official hub repos use).")
    return folder


def hub_download_command(hub_id: str, local_dir: str) -> str:
    """The shell command that downloads ``hub_id`` into ``local_dir`` with the installed huggingface_hub.

    huggingface_hub >= 1.0 installs the ``hf`` command (``huggingface-cli`` is gone); older ones only
    ``huggingface-cli``.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        major = int(version("huggingface_hub").split(".")[0])
    except (PackageNotFoundError, ValueError):
        major = 1
    tool = "hf" if major >= 1 else "huggingface-cli"
    return f"{tool} download {hub_id} --local-dir {local_dir}"


def _snapshot_from_hub(hub_id: str, revision: str | None, cache_dir, local_files_only: bool | None) -> Path:
    from huggingface_hub import snapshot_download

    patterns = [CONFIG_NAME, WEIGHTS_NAME]
    try:  # the cache first: it works offline
        return Path(snapshot_download(hub_id, revision=revision, cache_dir=cache_dir,
                                      allow_patterns=patterns, local_files_only=True))
    except Exception as cache_error:  # noqa: BLE001 - any miss falls through to the download or the message
        reason = cache_error
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    if not (local_files_only or offline):
        try:
            return Path(snapshot_download(hub_id, revision=revision, cache_dir=cache_dir, allow_patterns=patterns))
        except Exception as download_error:  # noqa: BLE001
            reason = download_error
    name = hub_id.split("/")[-1]
    raise FileNotFoundError(
        f"Could not find Kronos checkpoint {hub_id!r}: no local folder {Path(hub_id).absolute()}, not in the "
        f"Hugging Face cache, and it could not be downloaded "
        f"({type(reason).__name__}: {reason}).\nFix: on a machine with internet run\n"
        f"    {hub_download_command(hub_id, f'./checkpoints/{name}')}\n"
        f"copy that folder here and pass its path (./checkpoints/{name}), or copy the hub cache into "
        f"$HF_HOME / cache_dir. kronos-quant never substitutes random weights.") from None


def verify_digest(weights_path: Path, expected: bool | str, hub_id: str | None) -> None:
    """Check model.safetensors' sha256 against an explicit digest or the official table."""
    actual = sha256_of(weights_path)
    if isinstance(expected, str):
        wanted = expected.lower()
    elif hub_id in OFFICIAL_CHECKPOINTS:
        wanted = OFFICIAL_CHECKPOINTS[hub_id].safetensors_sha256
    else:
        if actual in KNOWN_DIGESTS:
            return
        raise CheckpointError(
            f"{weights_path} (sha256 {actual}) is not one of the official Kronos checkpoints "
            f"{sorted(OFFICIAL_CHECKPOINTS)}. Pass verify_sha256=False for your own checkpoints, or the "
            "expected hex digest as verify_sha256='...'.")
    if actual != wanted:
        raise CheckpointError(f"sha256 mismatch for {weights_path}: expected {wanted}, got {actual}. "
                              "The file is corrupt, truncated or a different revision: download it again.")


def strict_load_state_dict(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``module``; any missing, unexpected or mis-shaped key raises CheckpointError."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(expected[key].shape)}"
                        for key in set(expected) & set(state) if state[key].shape != expected[key].shape)
    if missing or unexpected or mismatched:
        raise CheckpointError(
            f"{source} does not match {type(module).__name__}({module.config}):\n"
            f"  missing keys: {missing}\n  unexpected keys: {unexpected}\n  shape mismatches: {mismatched}\n"
            "Check that config.json belongs to these weights and that this is the right class "
            "(KronosTokenizer vs Kronos).")
    cast = {key: value.to(expected[key].dtype) for key, value in state.items()}
    module.load_state_dict(cast, strict=True)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a model.safetensors; a truncated/foreign file or NaN/inf weights are a CheckpointError."""
    try:
        state = load_file(path)
    except Exception as err:  # noqa: BLE001 - safetensors raises SafetensorError, OSError, ...
        raise CheckpointError(f"{path} is not a readable safetensors file ({type(err).__name__}: {err}); it is "
                              "truncated or not a checkpoint: download or save it again") from None
    bad = sorted(key for key, value in state.items()
                 if value.is_floating_point() and not torch.isfinite(value).all())
    if bad:
        raise CheckpointError(f"{path} holds NaN/inf weights in {bad[:5]}{' ...' if len(bad) > 5 else ''}; the run "
                              "that saved it diverged: use an earlier checkpoint (e.g. best/) or retrain")
    return state


def write_bar_freq(folder: str | os.PathLike, bar_freq: str) -> Path:
    """Record in ``folder`` (a checkpoint) the bar frequency its network was trained on, e.g. "1D"."""
    parse_bar_freq(bar_freq)  # a ValueError for anything that is not a spacing
    path = Path(folder) / TRAINED_ON_NAME
    atomic_write(path, lambda temporary: Path(temporary).write_text(json.dumps({"bar_freq": bar_freq}) + "\n"))
    return path


def read_bar_freq(folder: str | os.PathLike) -> str | None:
    """The bar frequency recorded by :func:`write_bar_freq`, or None (no sidecar: official or older folder)."""
    path = Path(folder) / TRAINED_ON_NAME
    if not path.is_file():
        return None
    try:
        bar_freq = json.loads(path.read_text(encoding="utf-8")).get("bar_freq")
        if bar_freq is not None:
            parse_bar_freq(bar_freq)
        return bar_freq
    except (ValueError, AttributeError) as err:
        logger.warning("ignoring %s: %s (expected {\"bar_freq\": \"1D\"})", path, err)
        return None


def atomic_save_file(state: dict[str, torch.Tensor], path: Path) -> None:
    """save_file through :func:`kronos_quant.io_utils.atomic_write`: a crash never leaves half a file."""
    atomic_write(path, lambda temporary: save_file(state, temporary, metadata={"format": "pt"}))


class PretrainedMixin:
    """``from_pretrained`` / ``save_pretrained`` for modules with a ``config`` and ``config_class``."""

    config_class: type

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write config.json and model.safetensors (atomically) into ``directory``; returns it."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        state = {key: value.detach().contiguous().cpu() for key, value in self.state_dict().items()}
        atomic_save_file(state, folder / WEIGHTS_NAME)
        atomic_write(folder / CONFIG_NAME, self.config.save_json)
        return folder

    @classmethod
    def from_pretrained(cls, path_or_hub_id: str | os.PathLike, *, revision: str | None = None,
                        cache_dir: str | os.PathLike | None = None, local_files_only: bool | None = None,
                        verify_sha256: bool | str = False, device: str | torch.device = "cpu"):
        """Load a checkpoint folder or hub id strictly, in eval mode on ``device``.

        Args:
            path_or_hub_id: a folder with config.json + model.safetensors, or e.g. "NeoQuasar/Kronos-small".
            revision: hub revision (branch, tag or commit) for hub ids.
            cache_dir: huggingface_hub cache folder (default: $HF_HOME/hub).
            local_files_only: never try the network.
            verify_sha256: True checks model.safetensors against the official digests; a hex string
                checks against that digest.
        """
        folder = resolve_checkpoint_dir(path_or_hub_id, revision=revision, cache_dir=cache_dir,
                                        local_files_only=local_files_only)
        weights = folder / WEIGHTS_NAME
        if verify_sha256:
            hub_id = os.fspath(path_or_hub_id) if os.fspath(path_or_hub_id) in OFFICIAL_CHECKPOINTS else None
            verify_digest(weights, verify_sha256, hub_id)
        model = cls(cls.config_class.from_json(folder / CONFIG_NAME))
        strict_load_state_dict(model, read_weights(weights), source=str(weights))
        logger.info("loaded %s from %s", cls.__name__, folder)
        return model.to(device).eval()
