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


GATE_PROFILE = "smoke"  # the profile whose gate snapshots are committed under tests/gate/__snapshots__
GATE_SKIPPED = pytest.StashKey[str]()


def pytest_ignore_collect(collection_path, config):
    """`pytest -m claims` runs tests/claims alone: the library tests' modules, which import torch, are not even
    imported (that cost every xdist worker seconds of a warm claims run). Any other selection collects them all,
    except the gate under a profile other than the one its snapshots were recorded on: its cells would have no
    snapshot, and syrupy would call the committed ones unused and offer to delete them. A module kept out of
    collection still owns its snapshots for syrupy."""
    if collection_path.suffix != ".py":
        return None
    parts = collection_path.relative_to(config.rootpath).parts
    if (config.option.markexpr or "").strip() == "claims" and "claims" not in parts:
        return True
    if parts[:2] == ("tests", "gate"):
        from robustness.plugin.options import get_profile

        name = get_profile(config).name
        if name != GATE_PROFILE:
            config.stash[GATE_SKIPPED] = name
            return True
    return None


def pytest_terminal_summary(terminalreporter, config):
    if GATE_SKIPPED in config.stash:
        terminalreporter.write_line(f"gate not collected: its snapshots are recorded on the {GATE_PROFILE} profile, "
                                    f"this run's is {config.stash[GATE_SKIPPED]} (run the gate with "
                                    f"pytest -m gate --robustness-profile {GATE_PROFILE})")
