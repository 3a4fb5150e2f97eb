"""Every torch stage computes on the profile's device; no stage is pinned to the CPU behind the profile's back."""

import sys
from pathlib import Path

import pytest
import torch

from robustness import pipeline, training
from robustness.build import build_grid
from robustness.cli import main
from robustness.plan import PlanStore
from robustness.profiles import load_profile
from robustness.store import Store

TORCH = str(Path(torch.__file__).parent)  # torch.no_grad's wrapper sits between a caller and training.logits
SMALL = {"archs": "vgg19", "epochs": "1", "n_train": "96", "n_test": "48", "n_attack": "16",
         "attacks": "fgsm,deepfool,cw", "criteria": "l1", "ratios": "0,0.5", "sources": "base,pruned",
         "pruned_source_attacks": "fgsm", "curve_attacks": "fgsm", "eps_list": "8/255", "finetune_epochs": "1",
         "methods": "nncf_filter,torch_pruning"}


def test_every_stage_asks_for_the_profile_device(tmp_path, monkeypatch):
    """A cuda profile built where 'cuda' is served by the CPU: every request for a device must name cuda. The
    one CPU request allowed is the parity reference, which is the CPU in fp32 by design."""
    asked: list[tuple[str, str, str]] = []  # (function asking, the first caller outside training.py, device)

    def record(name: str) -> torch.device:
        frame = sys._getframe(1)
        direct = frame.f_code.co_name
        while frame.f_code.co_filename == training.__file__ or frame.f_code.co_filename.startswith(TORCH):
            frame = frame.f_back
        asked.append((direct, frame.f_code.co_name, name))
        return torch.device("cpu")

    monkeypatch.setattr(training, "resolve_device", record)
    monkeypatch.setattr(training, "device_name", lambda name: name)
    profile = load_profile("smoke", overrides={**SMALL, "device": "cuda"})
    build_grid(Store(tmp_path), profile, progress=lambda m: None)
    assert {"train", "logits", "classifier", "prune_stepwise", "control_stepwise"} <= {a[0] for a in asked}, asked
    assert {(outer, name) for _, outer, name in asked if name != "cuda"} == {("parity", "cpu")}


def test_the_art_estimator_gets_the_gpu_of_a_cuda_profile(monkeypatch):
    from robustness import attacks

    class Stub:
        type = "cuda"

    seen = {}

    class Recorder:
        def __init__(self, **kwargs):
            seen.update(kwargs)

    monkeypatch.setattr(training, "resolve_device", lambda name: Stub())
    monkeypatch.setattr(attacks, "_one_backward_class", lambda: Recorder)
    attacks.classifier(torch.nn.Linear(2, 2), 2, "cuda")
    assert seen["device_type"] == "gpu"


def test_auto_is_keyed_as_the_device_it_picks():
    """'auto' on a CPU-only machine gives the keys of 'cpu' (a GPU would give those of 'cuda'): the key says
    where it was computed, not what was asked."""
    keys = {}
    for device in ("auto", "cpu", "cuda"):
        profile = load_profile("smoke", overrides={"device": device})
        store = PlanStore("/nonexistent-store")
        ds = pipeline.dataset(store, profile)
        keys[device] = pipeline.base_model(store, profile, ds, "vgg19").artifact.key
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert keys["auto"] == keys[expected] and keys["cpu"] != keys["cuda"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without a GPU")
def test_a_cuda_profile_without_a_gpu_stops_before_anything_is_built(tmp_path, capsys):
    assert main(["build", "--profile", "smoke", "--set", "device=cuda", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no GPU is visible" in err[0] and "device=cpu" in err[0]
    assert not list(tmp_path.rglob("manifest.json"))
