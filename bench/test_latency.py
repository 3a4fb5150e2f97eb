"""OpenVINO inference latency of base and pruned IRs, for `pytest bench --benchmark-autosave` and
`--benchmark-compare`, timed as benchmark_app times it (static shape [1, 3, 32, 32], latency hint, f32, the input
set once, nothing copied per call, one inference thread as the claims use, and each inference's time as OpenVINO
measures it around the inference: the benchmark's timer is the runner's clock, so the Python call is not in the
figure);
`test_latency_against_benchmark_app` puts the two side by side. pytest-benchmark turns itself off under xdist: run
without -n."""

import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robustness import claims, deploy, pipeline


@pytest.fixture(scope="session")
def sample(dataset):
    return pipeline.load_arrays(dataset, "test")[0][:1]


@pytest.fixture
def clocked_benchmark(request):
    """pytest-benchmark's fixture with a runner's inference clock as its timer (through the `benchmark` marker's
    `timer`, which the fixture reads when it is made)."""
    def make(runner):
        request.node.add_marker(pytest.mark.benchmark(timer=runner.clock), append=False)
        return request.getfixturevalue("benchmark")
    return make


def _variant_ir(store, profile, dataset, base_model, variant):
    if variant == "base":
        return pipeline.ir_model(store, base_model)
    criterion, ratio = variant.rsplit("-", 1)
    if float(ratio) not in profile.ratios or criterion not in profile.criteria:
        pytest.skip(f"profile {profile.name} has no {variant} variant")
    return pipeline.ir_model(store, pipeline.pruned_model(store, profile, dataset, base_model, criterion,
                                                          float(ratio)))


@pytest.mark.benchmark
@pytest.mark.parametrize("variant", ["base", "l1-0.5"])
def test_openvino_latency(clocked_benchmark, store, profile, dataset, base_model, arch, variant, sample):
    ir = _variant_ir(store, profile, dataset, base_model, variant)
    runner = deploy.Runner(ir.file("model.xml"), latency=True, threads=claims.LATENCY_THREADS)
    runner.set_input(sample)
    benchmark = clocked_benchmark(runner)
    benchmark.group = arch
    benchmark.extra_info.update(model=ir.info["model"], ir_bytes=ir.info["bin_bytes"], cpu=deploy.cpu_name())
    benchmark.pedantic(runner.infer_one, iterations=1, rounds=profile.latency_iterations,
                       warmup_rounds=profile.latency_warmup)


def benchmark_app_median_ms(xml: Path, tmp: Path, seconds: int = 5) -> float:
    """OpenVINO's own benchmark_app on the IR, with the settings the claims use; its median latency in ms. The
    thread count goes in a config file: benchmark_app refuses -nthreads beside -hint latency (a rule of its
    command line, not of OpenVINO)."""
    exe = shutil.which("benchmark_app") or str(Path(sys.executable).with_name("benchmark_app"))
    config = tmp / "benchmark_app.json"
    config.write_text(json.dumps({"CPU": {"INFERENCE_NUM_THREADS": str(claims.LATENCY_THREADS)}}))
    run = subprocess.run([exe, "-m", str(xml), "-shape", "[1,3,32,32]", "-hint", "latency", "-infer_precision",
                          "f32", "-load_config", str(config), "-t", str(seconds)], capture_output=True, text=True)
    out = run.stdout
    assert run.returncode == 0, f"benchmark_app failed:\n{(run.stdout + run.stderr)[-2000:]}"
    assert re.search(rf"INFERENCE_NUM_THREADS: {claims.LATENCY_THREADS}\b", out), "benchmark_app ignored the config"
    match = re.search(r"Median:\s+([0-9.]+) (ms|us)", out)  # under a millisecond it prints microseconds
    assert match, f"benchmark_app printed no median latency:\n{out[-2000:]}"
    return float(match.group(1)) / (1000 if match.group(2) == "us" else 1)


@pytest.mark.benchmark
@pytest.mark.parametrize("variant", ["base", "l1-0.5"])
def test_latency_against_benchmark_app(clocked_benchmark, store, profile, dataset, base_model, arch, variant,
                                       sample, tmp_path):
    """This harness's median next to benchmark_app's on the same IR: the harness should add next to nothing. The
    wall time of the Python call around each inference is recorded beside it: what the clock leaves out."""
    ir = _variant_ir(store, profile, dataset, base_model, variant)
    reference = benchmark_app_median_ms(ir.file("model.xml"), tmp_path)
    runner = deploy.Runner(ir.file("model.xml"), latency=True, threads=claims.LATENCY_THREADS)
    runner.set_input(sample)
    benchmark = clocked_benchmark(runner)
    benchmark.group = f"{arch} against benchmark_app"
    benchmark.pedantic(runner.infer_one, iterations=1, rounds=5 * profile.latency_iterations,
                       warmup_rounds=profile.latency_warmup)
    ours = 1000 * benchmark.stats.stats.median
    walls = []
    for _ in range(profile.latency_iterations):
        start = time.perf_counter()
        runner.infer_one()
        walls.append(time.perf_counter() - start)
    call = 1000 * statistics.median(walls)
    after = benchmark_app_median_ms(ir.file("model.xml"), tmp_path)  # before and after: the machine may drift meanwhile
    ratio = ours / ((reference + after) / 2)
    benchmark.extra_info.update(benchmark_app_median_ms=[reference, after], harness_median_ms=ours,
                                python_call_median_ms=call, ratio_to_benchmark_app=ratio, cpu=deploy.cpu_name())
    print(f"\n{ir.info['model']['arch']} {variant}: harness median {ours:.3f} ms (the Python call around it "
          f"{call:.3f} ms), benchmark_app {reference:.3f} / {after:.3f} ms (before / after), ratio {ratio:.3f}")
