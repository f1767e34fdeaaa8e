"""`vigil import FORMAT FILE --out readings.parquet`: run one importer, print its report, write the readings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from monitor.config import Settings
from monitor.importers.common import (
    DEFAULT_MAX_BAD_SHARE,
    ImportFailedError,
    ImportReport,
    check_bad_share,
    pseudonymize,
)
from monitor.reading_table import write_reading_file
from monitor.records import RecordError


def add_parser(sub: Any) -> None:
    imp = sub.add_parser("import", help="import Nightscout, CSV, OhioT1DM or cohort files to a reading Parquet file")
    imp.add_argument("format", choices=["nightscout", "csv", "ohiot1dm", "cohort"])
    imp.add_argument("file", type=Path)
    imp.add_argument("--out", type=Path, required=True, help="reading Parquet file to write")
    imp.add_argument("--patient", default=None, help="enrolment id for a one-patient file (pseudonymized)")
    imp.add_argument("--treatments", type=Path, default=None, help="nightscout: treatments.json (carbs, insulin)")
    imp.add_argument("--max-bad-share", type=float, default=DEFAULT_MAX_BAD_SHARE,
                     help="fail when more than this share of rows is malformed (default 0.05)")
    imp.add_argument("--time-col", default="time")
    imp.add_argument("--value-col", default="glucose")
    imp.add_argument("--patient-col", default=None)
    imp.add_argument("--device-col", default=None)
    imp.add_argument("--unit", choices=["mg/dL", "mmol/L"], default="mg/dL")
    imp.add_argument("--time-format", default=None, help="strptime format (default ISO-8601)")
    imp.add_argument("--timezone", default="UTC", help="zone of times without an offset")
    imp.add_argument("--delimiter", default=",")
    imp.set_defaults(func=cli_import)


def run_import(args: argparse.Namespace, secret: bytes) -> ImportReport:
    if args.format == "nightscout":
        from monitor.importers.nightscout import import_nightscout

        if not args.patient:
            raise ValueError("nightscout: --patient ENROLMENT_ID is required (the file names no patient)")
        return import_nightscout(args.file, pseudonymize(args.patient, secret), args.treatments)
    if args.format == "csv":
        from monitor.importers.csv_generic import CsvMapping, import_csv

        mapping = CsvMapping(time_col=args.time_col, value_col=args.value_col, patient_col=args.patient_col,
                             device_col=args.device_col, unit=args.unit, time_format=args.time_format,
                             timezone=args.timezone, delimiter=args.delimiter)
        return import_csv(args.file, mapping, secret, args.patient)
    if args.format == "ohiot1dm":
        from monitor.importers.ohiot1dm import import_ohiot1dm

        return import_ohiot1dm(args.file, secret, args.timezone)
    from monitor.importers.cohort import import_cohort

    return import_cohort(args.file, secret)


def cli_import(args: argparse.Namespace, settings: Settings) -> int:
    try:
        report = check_bad_share(run_import(args, settings.pseudonym_secret), args.max_bad_share)
    except ImportFailedError as exc:
        print(f"vigil: import failed: {exc}", file=sys.stderr)
        return 3
    except (RecordError, ValueError, OSError) as exc:
        print(f"vigil: import failed: {exc}", file=sys.stderr)
        return 2
    print(report.summary(), file=sys.stderr)
    write_reading_file(report.readings, args.out)
    print(f"vigil: {len(report.readings)} reading(s) written to {args.out}")
    return 0
