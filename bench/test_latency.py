"""OpenVINO inference latency of base and pruned IRs, for `pytest bench --benchmark-autosave` and
`--benchmark-compare`. pytest-benchmark turns itself off under xdist: run without -n."""

import pytest

from robustness import deploy, pipeline


@pytest.fixture(scope="session")
def sample(dataset):
    return pipeline.load_arrays(dataset, "test")[0][:1]


@pytest.mark.parametrize("variant", ["base", "l1-0.5"])
def test_openvino_latency(benchmark, store, profile, dataset, base_model, arch, variant, sample):
    if variant == "base":
        ref = base_model
    else:
        criterion, ratio = variant.rsplit("-", 1)
        if float(ratio) not in profile.ratios or criterion not in profile.criteria:
            pytest.skip(f"profile {profile.name} has no {variant} variant")
        ref = pipeline.pruned_model(store, profile, dataset, base_model, criterion, float(ratio))
    runner = deploy.Runner(pipeline.ir_model(store, ref).file("model.xml"), latency=True)
    benchmark.group = arch
    benchmark.extra_info.update(model=ref.name, ir_bytes=pipeline.ir_model(store, ref).info["bin_bytes"])
    benchmark.pedantic(runner.infer_one, args=(sample,), iterations=1, rounds=profile.latency_iterations,
                       warmup_rounds=profile.latency_warmup)
