"""A bench-only worker: the real agents with faust setting overrides and/or modules taken from an older commit,
so a change can be measured side by side with the current `vigil worker` in one bench run.

VIGIL_BENCH_OVERRIDES: JSON faust settings for create_app(**overrides).
VIGIL_BENCH_PATCH: "monitor.state_codec@<rev>,monitor.engine@<rev>": those modules' source at <rev> replaces the
working tree's before anything imports them (the "before" side of a before/after measurement).
VIGIL_BENCH_MEMO: "1" wraps the forecaster lookup in monitor.forecast_memo.ForecastMemo, "0" never does.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def patch_from_git(spec: str) -> None:
    """Loads module@rev from git into sys.modules (and onto its parent package) under the same name."""
    name, _, rev = spec.partition("@")
    path = name.replace(".", "/") + ".py"
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    module = types.ModuleType(name)
    module.__file__ = str(ROOT / path)
    parent, _, leaf = name.rpartition(".")
    module.__package__ = parent
    sys.modules[name] = module
    exec(compile(source, f"{path}@{rev}", "exec"), module.__dict__)  # our own repository's code, at a commit
    if parent:
        setattr(importlib.import_module(parent), leaf, module)


def main() -> None:
    for spec in filter(None, os.environ.get("VIGIL_BENCH_PATCH", "").split(",")):
        patch_from_git(spec.strip())
    from models.registry import worker_forecasters
    from monitor import agents
    from monitor.app import create_app
    from monitor.config import Settings
    from monitor.consent_feed import gate_from_env

    overrides = json.loads(os.environ.get("VIGIL_BENCH_OVERRIDES", "{}"))
    wiring = create_app(Settings.from_env(), **overrides)
    lookup = worker_forecasters()  # as monitor.agents does: the promoted model, else AR2
    if os.environ.get("VIGIL_BENCH_MEMO") == "1":
        from monitor.forecast_memo import ForecastMemo

        lookup = ForecastMemo(lookup)
    agents.register(wiring, consent=gate_from_env(), forecaster_for=lookup)
    sys.argv = ["vigil", "worker", "--loglevel", "info", "--without-web"]
    wiring.app.main()


if __name__ == "__main__":
    main()
