"""`vigil data ...` and `vigil models ...`: argparse wiring for the offline model tools (logic lives elsewhere)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from monitor.config import Settings


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    from models.simulate import SimJob, select_patients, simulate_cohort

    try:
        names = select_patients(args.patients)
    except ValueError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    jobs = [SimJob(name, args.days, args.seed, settings.pseudonym_secret) for name in names]
    cohort = simulate_cohort(jobs, processes=args.processes)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cohort.to_parquet(out, index=False)
    side = {"seed": args.seed, "days": args.days, "patients": len(names), "simulator": "simglucose==0.2.11"}
    out.with_suffix(out.suffix + ".json").write_text(json.dumps(side))
    counts = cohort.kind.value_counts().to_dict()
    print(f"vigil: {len(names)} patients x {args.days} days (seed {args.seed}) -> {out} {counts}")
    return 0


def add_data_parser(sub: Any) -> None:
    data = sub.add_parser("data", help="generate research data (simulated cohort)")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    sim = data_sub.add_parser("simulate", help="simulate a T1D cohort on simglucose and write Parquet")
    sim.add_argument("--patients", default="all", help="all | adult | child:2 | adult#001,child#003")
    sim.add_argument("--days", type=int, default=14)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--out", default="data/cohort.parquet")
    sim.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1))
    sim.set_defaults(func=_simulate)


def _store(args: argparse.Namespace) -> Path:
    from models.registry import default_store

    return Path(args.store) if args.store else default_store()


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from models.training import train_from_parquet

    folder = train_from_parquet(Path(args.data), _store(args), holdout_per_group=args.holdout_per_group,
                                seed=args.seed, version=args.version)
    print(f"vigil: trained {folder.name} -> {folder}")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from models.registry import versions

    found = versions(_store(args))
    if not found:
        print(f"vigil: no models in {_store(args)}")
    for m in found:
        mark = "*" if m.get("promoted") else " "
        if "error" in m:
            print(f"{mark} {m['version']:40} UNREADABLE: {m['error']}")
            continue
        rmse = m.get("metrics", {}).get("overall", {})
        extra = " ".join(f"{k}={v:.2f}" for k, v in rmse.items() if isinstance(v, float))
        print(f"{mark} {m['version']:40} {m['created'][:19]} data={m['training_data_sha256'][:12]} "
              f"patients={len(m.get('corrections_for', []))} personalized {extra}")
    return 0


def _promote(args: argparse.Namespace, settings: Settings) -> int:
    from models.registry import ModelLoadError, promote

    try:
        promote(_store(args), args.version)
    except ModelLoadError as exc:
        print(f"vigil: cannot promote: {exc}", file=sys.stderr)
        return 2
    print(f"vigil: promoted {args.version}")
    return 0


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from models.registry import ModelLoadError
    from models.training import evaluate_version

    try:
        card = evaluate_version(Path(args.data), _store(args), args.version, Path(args.out))
    except ModelLoadError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    print(f"vigil: model card {card}")
    return 0


def add_models_parser(sub: Any) -> None:
    models = sub.add_parser("models", help="train, list, promote and evaluate glucose forecasters")
    models_sub = models.add_subparsers(dest="models_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store", default=None,
                       help="model store (default VIGIL_MODEL_STORE or $VIGIL_HOME/model_store)")

    train = models_sub.add_parser("train", help="train a new version on a cohort Parquet (held-out patients kept out)")
    train.add_argument("--data", default="data/cohort.parquet")
    train.add_argument("--holdout-per-group", type=int, default=3, help="patients per subgroup held out for evaluate")
    train.add_argument("--seed", type=int, default=7)
    train.add_argument("--version", default=None, help="version name (default gb-<time>-<data hash>)")
    common(train)
    train.set_defaults(func=_train)

    lst = models_sub.add_parser("list", help="list versions (* = promoted)")
    common(lst)
    lst.set_defaults(func=_list)

    prom = models_sub.add_parser("promote", help="make a version the one the worker loads")
    prom.add_argument("version")
    common(prom)
    prom.set_defaults(func=_promote)

    ev = models_sub.add_parser("evaluate", help="evaluate a version on its held-out patients, write a model card")
    ev.add_argument("--data", default="data/cohort.parquet")
    ev.add_argument("--version", default=None, help="default: the promoted version, else the newest")
    ev.add_argument("--out", default="reports", help="folder for model_card.md and PNGs (git-ignored)")
    common(ev)
    ev.set_defaults(func=_evaluate)
