"""What each attack costs against its floor: wall time of crafting one batch divided by the time of one forward
and backward pass (to the input: no attack needs the weights' gradients) of the same batch on the same model (PGD
with 10 steps needs about 11). Every attack is also run the way stock ART runs it: ART's own estimator, which
takes one backward pass per distinct label, with the weights' gradients computed in every backward pass.

    pytest bench/test_attack_cost.py --robustness-profile default -k "resnet50" --benchmark-columns=median

pytest-benchmark turns itself off under xdist: run without -n.
"""

import contextlib
import time
import warnings

import numpy as np
import pytest
import torch

from robustness import attacks, pipeline, training

N_IMAGES = 64


def _floor_seconds(model, x, y, layout, rounds=5):
    """Median of one forward and backward pass over the batch, as ART's gradient calls make them."""
    times = []
    with training.memory_format(model.eval(), layout):
        for _ in range(rounds):
            xt = torch.from_numpy(x).requires_grad_(True)
            start = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(xt), torch.from_numpy(y).long())
            torch.autograd.grad(loss, xt)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


@pytest.mark.benchmark
@pytest.mark.parametrize("estimator", ["ours", "stock"])
@pytest.mark.parametrize("attack_name", ["fgsm", "pgd", "bim", "apgd", "deepfool", "cw", "uap"])
def test_attack_cost(benchmark, store, profile, dataset, base_model, arch, attack_name, estimator, monkeypatch):
    if attack_name not in profile.attacks:
        pytest.skip(f"profile {profile.name} has no {attack_name}")
    if estimator == "stock":
        from art.estimators.classification import PyTorchClassifier

        monkeypatch.setattr(attacks, "_one_backward_class", lambda: PyTorchClassifier)
        monkeypatch.setattr(attacks, "input_gradients_only", contextlib.nullcontext)
    x_all, y_all = pipeline.load_arrays(dataset, "test")
    idx = pipeline.attack_indices(y_all, profile.n_attack, profile.seed)[:N_IMAGES]
    x, y = np.ascontiguousarray(x_all[idx]), y_all[idx]
    model = base_model.load()
    spec = attacks.attack_spec(profile, attack_name)
    with training.torch_threads(profile.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        floor = _floor_seconds(model, x, y, profile.memory_format)
        benchmark.pedantic(attacks.craft, args=(spec, model, x, y, base_model.meta["num_classes"]),
                           kwargs={"layout": profile.memory_format}, rounds=1, iterations=1)
    wall = benchmark.stats.stats.median
    benchmark.group = f"{arch} attacks on {len(x)} images"
    benchmark.extra_info.update(floor_seconds=floor, wall_over_floor=wall / floor, images=len(x),
                                estimator=estimator, threads=profile.threads, layout=profile.memory_format)
    print(f"\n{arch} {attack_name} ({estimator}): {wall:.2f} s = {wall / floor:.1f} forward+backward passes "
          f"of {len(x)} images ({floor * 1000:.0f} ms each)")
