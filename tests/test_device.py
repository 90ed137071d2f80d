"""One device resolver (kronos_quant.device) for the predictor, training and the Qlib adapter."""
import pytest
import torch

from kronos_quant import device as device_module
from kronos_quant.device import resolve_device


@pytest.fixture
def only_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "mps_available", lambda: True)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, only_mps):
    assert resolve_device(None) == resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(device_module, "mps_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto", local_rank=3) == torch.device("cuda", 3)
    assert resolve_device("cuda", local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cuda:2", local_rank=1) == torch.device("cuda", 2)


def test_training_and_inference_agree_on_mps(only_mps):
    """Before one resolver, training's "auto" said cpu where the predictor said mps."""
    from kronos_quant.training.ddp import init_distributed

    assert init_distributed("auto").device == resolve_device("auto") == torch.device("mps")


@pytest.mark.parametrize("name, match", [("tpu9", "device must be"), ("cuda", "CUDA is not available"),
                                         ("mps", "MPS is not available")])
def test_unavailable_or_unknown_devices_are_errors(monkeypatch, name, match):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "mps_available", lambda: False)
    with pytest.raises(ValueError, match=match):
        resolve_device(name)


def test_cpu_and_devices_pass_through():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
