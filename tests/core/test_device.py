import pytest
import torch

from mrfcore.device import available_devices, select_device


def test_auto_picks_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device(None).type == expected
    assert select_device("auto").type == expected
    assert available_devices()[-1].name == "cpu"


def test_explicit_choice_wins_and_missing_devices_are_errors():
    assert select_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            select_device("cuda")
    with pytest.raises(ValueError, match="unknown compute device"):
        select_device("quantum")
