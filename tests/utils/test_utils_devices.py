import importlib

import pytest
import torch

import synthbio.utils.devices as devices
from synthbio.errors import InputError


def test_cpu_and_auto():
    assert devices.resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else ("mps" if devices._mps_available() else "cpu")
    assert devices.resolve_device("auto").type == expected


def test_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.resolve_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert devices.resolve_device("auto").type == "mps"
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert devices.resolve_device("auto").type == "cpu"


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x"])
def test_unknown_device(name, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(InputError, match="device"):
        devices.resolve_device(name)


def test_missing_accelerator_is_an_input_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    with pytest.raises(InputError, match="CUDA is not available"):
        devices.resolve_device("cuda")
    with pytest.raises(InputError, match="MPS is not available"):
        devices.resolve_device("mps")


def test_import_does_not_probe_devices(monkeypatch):
    def boom() -> bool:
        raise AssertionError("probed a device at import")

    monkeypatch.setattr(torch.cuda, "is_available", boom)
    reloaded = importlib.reload(devices)  # raises through boom() if the import probes CUDA
    assert callable(reloaded.resolve_device)
