"""Library tests run on the smoke profile whatever --robustness-profile says; they share the run's artifact store."""

import pytest

from robustness import pipeline
from robustness.profiles import load_profile


def smoke_settings(*pairs: str) -> list[str]:
    """`--robustness-set key=value` for each pair, as a pytest command line spells profile overrides."""
    return [arg for pair in pairs for arg in ("--robustness-set", pair)]


@pytest.fixture(scope="session")
def smoke():
    return load_profile("smoke")


@pytest.fixture(scope="session")
def smoke_dataset(store, smoke):
    return pipeline.dataset(store, smoke)


@pytest.fixture(scope="session")
def smoke_base(store, smoke, smoke_dataset):
    """The smoke profile's first architecture, trained."""
    return pipeline.base_model(store, smoke, smoke_dataset, smoke.archs[0])


def pytest_ignore_collect(collection_path, config):
    """`pytest -m claims` runs tests/claims alone: the library tests' modules, which import torch, are not even
    imported (that cost every xdist worker seconds of a warm claims run). Any other selection collects them all."""
    if (config.option.markexpr or "").strip() == "claims" and collection_path.suffix == ".py" \
            and "claims" not in collection_path.relative_to(config.rootpath).parts:
        return True
    return None
