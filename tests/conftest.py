"""Library tests run on the smoke profile whatever --profile says; they share the run's artifact store."""

import pytest

from robustness import pipeline
from robustness.profiles import load_profile


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
