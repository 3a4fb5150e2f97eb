"""Training and prediction speed in each memory layout (the profile's `memory_format`): one epoch of 256 random
images at the profile's batch size, and one forward pass of 256 images, per architecture.

    pytest bench/test_layout.py --robustness-profile default --benchmark-group-by=param:arch

pytest-benchmark turns itself off under xdist: run without -n.
"""

import numpy as np
import pytest

from robustness import training
from robustness.models import create_model


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.random((256, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, 256)


@pytest.mark.benchmark
@pytest.mark.robustness_grid
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("work", ["epoch", "forward"])
def test_layout_speed(benchmark, profile, arch, layout, work, images):
    x, y = images
    model = create_model(arch, 10, profile.width, [0.5] * 3, [0.25] * 3)
    benchmark.group = f"{arch} {work}"
    with training.torch_threads(profile.threads):
        if work == "epoch":
            benchmark.pedantic(training.train, args=(model, x, y),
                               kwargs=dict(epochs=1, batch_size=profile.batch_size, lr=0.01, weight_decay=0.0,
                                           seed=0, layout=layout), rounds=3, iterations=1)
        else:
            benchmark.pedantic(training.predict, args=(model, x), kwargs={"layout": layout}, rounds=5,
                               iterations=1, warmup_rounds=1)
