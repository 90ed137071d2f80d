"""Trained checkpoints record the bar frequency of their training windows (kronos-quant forecast checks it)."""
from __future__ import annotations


def test_training_records_the_bar_frequency(windows, make_config, tmp_path):
    """fit_tokenizer writes trained_on.json beside best/ and last/ (daily stamps -> "1D").

    from_pretrained still loads the folder.
    """
    from kronos_quant.model import KronosTokenizer
    from kronos_quant.model.checkpoint import read_bar_freq
    from kronos_quant.training import fit_tokenizer

    train, valid = windows
    result = fit_tokenizer(make_config(tmp_path / "tok", epochs=1, windows_per_epoch=32), train, valid)
    assert read_bar_freq(result.best_dir) == read_bar_freq(result.last_dir) == "1D"
    KronosTokenizer.from_pretrained(result.best_dir)
