"""Thin: loads the suite's fixture modules and records library versions in pytest-benchmark's machine info."""

pytest_plugins = ["fixtures.options", "fixtures.artifacts", "fixtures.claims"]


def pytest_benchmark_update_machine_info(config, machine_info):
    from robustness.store import library_versions

    machine_info["libraries"] = library_versions()
