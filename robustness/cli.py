"""Command line: `python -m robustness list | build | plan | profile | expected | stages`. Bad input exits 2 with one
line naming the fix."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from robustness.errors import RobustnessError, StoreError, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other usage error here
        self.exit(2, f"error: {message} (see --help)\n")


def _add_profile_options(p: argparse.ArgumentParser) -> None:
    """The options shared with the pytest plugin (robustness.options), spelled without its prefix."""
    from robustness.options import OPTIONS

    for option in OPTIONS:
        if option.cli:
            p.add_argument(f"--{option.flag}", dest=option.name, **option.argparse_kwargs())


def make_parser() -> argparse.ArgumentParser:
    from robustness.build import STAGES

    parser = _Parser(prog="python -m robustness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="architectures, datasets, attacks, criteria and profiles")
    build = sub.add_parser("build", help="build every artifact of a profile's grid, with progress")
    _add_profile_options(build)
    build.add_argument("--stages", default="all",
                       help=f"comma list of stages to build: {', '.join(STAGES)} (default all)")
    build.add_argument("--jobs", type=int, default=1,
                       help="build processes sharing the store, each starting at another architecture; the "
                            "store's locks build every artifact once (default 1; use the core count)")
    build.add_argument("--job", type=int, default=0, help=argparse.SUPPRESS)  # set for the spawned processes
    build.add_argument("--run-id", default=None, help=argparse.SUPPRESS)
    build.add_argument("--executor", choices=["local", "ray"], default="local",
                       help="local: --jobs processes on this machine; ray: one Ray task per artifact on a cluster "
                            "whose nodes all mount the store (pip install -e .[ray])")
    build.add_argument("--address", default=None,
                       help="the Ray cluster to join (default: $RAY_ADDRESS, else a cluster on this machine)")
    plan = sub.add_parser("plan", help="the artifact graph before anything runs: counts, what the store holds, "
                                       "estimated cost per stage and the critical path")
    _add_profile_options(plan)
    plan.add_argument("--stages", default="all", help="as for build")
    plan.add_argument("--images-per-second", default=None, metavar="N|ARCH=N,...",
                      help="forward+backward images per second of the profile's device (a GPU's), for all "
                           "architectures or per architecture; default: measured on this machine")
    plan.add_argument("--workers", type=int, default=None,
                      help="parallel builders for the wall-time estimate (default: this machine's cores)")
    stages = sub.add_parser("stages", help="check the code of each stage against its recorded version")
    stages.add_argument("--update", action="store_true",
                        help="bump the version of every stage whose code changed (its artifacts are rebuilt)")
    stages.add_argument("--same-output", default="", metavar="UNIT,...",
                        help="with --update: record these units' new code without a bump, for a change shown to "
                             "build byte-identical artifacts (build into an empty store, compare checksums)")
    exp = sub.add_parser("expected", help="the profile's recorded verdicts (its non-reproductions: expected failures)")
    _add_profile_options(exp)
    exp.add_argument("--update", action="store_true",
                     help="record every cell's verdict, value, interval and n of the profile's results.json "
                          "(its `not reproduced` cells become expected failures)")
    exp.add_argument("--results-dir", type=Path, help="default: results/<profile>-<profile hash>")
    show = sub.add_parser("profile", help="print a profile's settings as TOML-ready key = value lines")
    _add_profile_options(show)
    show.add_argument("--hash", action="store_true", help="print only the profile's hash (results folders and CI "
                                                          "cache keys are named by it)")
    return parser


def cmd_list() -> int:
    from robustness.compression import get_method, list_methods
    from robustness.models import list_models
    from robustness.profiles import ATTACKS, CRITERIA, DATASETS, SOURCES, list_profiles

    for title, names in (("architectures", list_models()), ("datasets", DATASETS), ("attacks", ATTACKS),
                         ("criteria", CRITERIA), ("sources", SOURCES), ("methods", list_methods()),
                         ("profiles", list_profiles())):
        print(f"{title}: {' '.join(names)}")
    for name in list_methods():
        m = get_method(name)
        criteria = f"; criteria {' '.join(m.criteria)} (profile field {m.criteria_field})" if m.criteria else ""
        print(f"  {name}: {m.kind}, {m.library}; judged against {m.reference}{criteria}")
    return 0


def _profile(args: argparse.Namespace):
    """The profile and every option, checked (robustness.validation) before anything is built or written; nothing
    the profile names is imported here."""
    from robustness.profiles import load_profile, parse_overrides
    from robustness.validation import check_folder_option

    for name in ("cache_dir", "data_dir", "results_dir"):
        check_folder_option(getattr(args, name, None), f"--{name.replace('_', '-')}")
    return load_profile(args.profile or os.environ.get("ROBUSTNESS_PROFILE") or "default", args.profile_file,
                        parse_overrides(args.set))


def cmd_profile(args: argparse.Namespace) -> int:
    import json

    profile = _profile(args)
    if args.hash:  # what results folders and a CI cache key are named by
        print(profile.hash)
        return 0
    for key, value in profile.to_dict().items():
        print(f"{key} = {json.dumps(value)}")
    return 0


def cmd_expected(args: argparse.Namespace) -> int:
    from robustness import expected

    profile = _profile(args)
    results = (args.results_dir or Path("results") / profile.results_name) / "results.json"
    if args.update:
        digest, counts = expected.update(results)
        if digest != profile.hash:
            print(f"note: {results} is of profile hash {digest}, not {profile.hash}")
        print(f"recorded {sum(counts.values())} cells of profile hash {digest} in {expected.PATH} "
              f"({', '.join(f'{n} {v}' for v, n in sorted(counts.items()))})")
        return 0
    cells = expected.for_profile(profile)
    failing = {c: e for c, e in cells.items() if e.get("verdict", "not reproduced") == "not reproduced"}
    print(f"profile {profile.name} (hash {profile.hash}): {len(cells)} recorded verdicts, {len(failing)} expected "
          "failures (not reproduced)")
    for cell, entry in failing.items():
        print(f"{cell}: {entry['value']:+.4f} [{entry['interval'][0]:+.4f}, {entry['interval'][1]:+.4f}], "
              f"n={entry['n']}")
    return 0


def cmd_stages(args: argparse.Namespace) -> int:
    from robustness import stages

    if args.update:
        same = tuple(u.strip() for u in args.same_output.split(",") if u.strip())
        bumped = stages.update(same_output=same)
        if same:
            print(f"kept the versions of {', '.join(same)}: their artifacts must be byte-identical to the old ones")
        print(f"bumped {', '.join(bumped)}" if bumped else "every stage's version matches its code")
        return 0
    changed = stages.stale()
    for unit in changed:
        print(f"{unit}: code changed since version {stages.recorded().get(unit, {}).get('version', 0)}")
    if changed:
        print("run `python -m robustness stages --update`: the artifacts these build get new keys")
        return 1
    print("every stage's version matches its code")
    return 0


def _spawn_jobs(args: argparse.Namespace, argv: list[str], run_id: str) -> list[subprocess.Popen]:
    """The other jobs: this command again, each told its number and the shared run id (for one summary)."""
    return [subprocess.Popen([sys.executable, "-m", "robustness", *argv, "--job", str(j), "--run-id", run_id])
            for j in range(1, args.jobs)]


def _stages(text: str) -> list[str]:
    from robustness.build import STAGES

    stages = STAGES if text == "all" else [s.strip() for s in text.split(",") if s.strip()]
    for stage in stages:
        if stage not in STAGES:
            raise UsageError(f"unknown stage {stage!r}: choose from {', '.join(STAGES)} or all")
    return stages


def cmd_plan(args: argparse.Namespace) -> int:
    from robustness import validation
    from robustness.plan import plan

    profile = _profile(args)
    stages = _stages(args.stages)
    rates = validation.images_per_second(args.images_per_second, profile.archs)
    validation.check_workers(args.workers)
    data_dir = Path(args.data_dir) if args.data_dir else None
    print("\n".join(plan(profile, args.cache_dir, stages, data_dir, rates, args.workers)), flush=True)
    return 0


def cmd_build(args: argparse.Namespace, argv: list[str]) -> int:
    from robustness import compression
    from robustness.build import build_grid
    from robustness.store import Store
    from robustness.training import resolve_device
    from robustness.validation import check_inputs, check_jobs

    profile = _profile(args)
    stages = _stages(args.stages)
    check_jobs(args.jobs)
    check_inputs(profile)  # your factories, checkpoint and data.npz, before anything is stored
    compression.check_device(profile)  # INT8 on a CPU without it stops before anything is built
    if args.executor == "ray":
        from robustness.cluster import build_on_ray

        data_dir = Path(args.data_dir) if args.data_dir else None
        return build_on_ray(profile, args.cache_dir, stages, data_dir, args.address)
    resolve_device(profile.device)  # a cuda profile on a machine without a GPU stops before anything is built
    store = Store(args.cache_dir, run_id=args.run_id or uuid.uuid4().hex)  # each call reports its own work
    start = time.perf_counter()
    prefix = f"[job {args.job}] " if args.job else ""
    if not args.job:
        print(f"profile {profile.name}: dataset {profile.dataset}, archs {', '.join(profile.archs)}; "
              f"store {store.root}" + (f"; {args.jobs} jobs" if args.jobs > 1 else ""), flush=True)
    others = _spawn_jobs(args, argv, store.run_id) if args.jobs > 1 and not args.job else []
    first = args.job * len(profile.archs) // max(args.jobs, args.job + 1)
    data_dir = Path(args.data_dir) if args.data_dir else None
    build_grid(store, profile, data_dir, stages=stages, progress=lambda m: print(prefix + m, flush=True),
               first_arch=first)
    failed = [p.args for p in others if p.wait() != 0]
    if failed:
        raise StoreError(f"{len(failed)} of the {args.jobs} build jobs failed (their errors are above); run the "
                         "same command again: finished artifacts are kept")
    if args.job:
        return 0
    events = store.events(store.run_id)
    built = [e for e in events if e["event"] == "built"]
    cached = [e for e in events if e["event"] == "cached"]
    print(f"done in {time.perf_counter() - start:.1f}s: built {len(built)} artifacts, "
          f"reused {len(cached)} from the cache", flush=True)
    if built:
        from robustness.build import cost_table

        print("\n".join(["cost per stage and kind (this run's builds):", *cost_table(store, events)]), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("nncf", "openvino"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command == "list":
            return cmd_list()
        if args.command == "profile":
            return cmd_profile(args)
        if args.command == "stages":
            return cmd_stages(args)
        if args.command == "expected":
            return cmd_expected(args)
        if args.command == "plan":
            return cmd_plan(args)
        return cmd_build(args, list(sys.argv[1:] if argv is None else argv))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except RobustnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
