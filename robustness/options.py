"""The options the command line and the pytest plugin share, defined once.

The CLI spells them `--profile`; the plugin `--robustness-profile` (as pytest-benchmark spells `--benchmark-*`),
with the ini key `robustness_profile` and the environment variable `ROBUSTNESS_PROFILE` for each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from robustness.profiles import list_profiles


@dataclass(frozen=True)
class Option:
    name: str  # profile_file -> --profile-file (CLI), --robustness-profile-file, robustness_profile_file, ...
    help: str
    kind: str = "value"  # value, list (repeatable), flag
    metavar: str | None = None
    cli: bool = True  # also an option of the build, expected and profile commands

    @property
    def flag(self) -> str:
        return self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return f"ROBUSTNESS_{self.name.upper()}"

    def argparse_kwargs(self) -> dict[str, Any]:
        if self.kind == "flag":
            return {"action": "store_true", "default": False, "help": self.help}
        if self.kind == "list":
            return {"action": "append", "default": [], "metavar": self.metavar, "help": self.help}
        return {"default": None, "metavar": self.metavar, "help": self.help}


OPTIONS = [
    Option("profile", f"preset: {', '.join(list_profiles())} (default: default)", metavar="NAME"),
    Option("profile_file", "TOML file overriding the preset's fields (and holding [[threshold]] tables)",
           metavar="FILE"),
    Option("set", "override one profile field, e.g. epochs=3 or eps=4/255 (repeatable; for pytest, "
           "$ROBUSTNESS_SET holds several separated by ';', e.g. ROBUSTNESS_SET='attacks=pgd,fgsm;epochs=3')",
           kind="list", metavar="KEY=VALUE"),
    Option("cache_dir", "artifact store (default: ~/.cache/robustness/store)", metavar="DIR"),
    Option("data_dir", "folder holding the CIFAR archives", metavar="DIR"),
    Option("rebuild", "ignore cached artifacts of this run's profile and build them again", kind="flag",
           cli=False),
    Option("read_only", "only read the store (one that a cluster built): an artifact it lacks is an error, "
           "nothing is built or written there", kind="flag", cli=False),
    Option("results_dir", "where claims runs write results.json and report.md (default: "
           "results/<profile>-<profile hash>)", metavar="DIR", cli=False),
]


def get(name: str) -> Option:
    return next(o for o in OPTIONS if o.name == name)
