"""`vigil data ...` and `vigil models ...`: argparse wiring for the offline model tools (logic lives elsewhere)."""

from __future__ import annotations

import argparse
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


def add_models_parser(sub: Any) -> None:
    models = sub.add_parser("models", help="train, list, promote and evaluate glucose forecasters")
    models.add_subparsers(dest="models_command", required=True)
