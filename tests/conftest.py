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
