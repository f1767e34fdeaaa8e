"""Simulated T1D cohort on simglucose (UVA/Padova): CGM readings plus carbs and insulin context events.

The simulator's patient model, meal scenario and CGM noise are simglucose's own. Two choices are ours:
- speed: simglucose reads its parameters from a pandas Series inside the ODE right-hand side, which costs
  about 90 % of the run time; we hand it the same numbers as a plain namespace (identical trajectories);
- the patient's behaviour: a meal bolus from the patient's own carbohydrate ratio with carb-counting
  error, sometimes a forgotten bolus, a correction above 150 mg/dL, and the usual self-treatment of a
  low (15 g of fast carbs when the CGM reads < 70 mg/dL, again after 15 minutes if still low). This only
  generates realistic recorded data for research; vigil itself never computes or suggests a dose.

The UVA/Padova model has no glucagon response: untreated, a steep fall drives plasma glucose to zero,
where simglucose freezes it for good and the sensor reads its floor (39 mg/dL) for the rest of the run.
simglucose's own environment ends a run once glucose falls below 10 mg/dL; we end the patient's trace
there too, with a warning, instead of emitting a dead patient (rare once lows are treated).
"""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd

from monitor.pseudonym import patient_key
from monitor.records import reading_id_for

SUBGROUPS: Final = ("adolescent", "adult", "child")
PATIENT_NAMES: Final = tuple(f"{group}#{i:03d}" for group in SUBGROUPS for i in range(1, 11))
SENSOR: Final = "GuardianRT"  # 5-minute CGM in simglucose's sensor table
CGM_MINUTES: Final = 5
START: Final = datetime(2026, 1, 5)  # naive: simglucose's scenario works on naive local time
TARGET_MGDL: Final = 140.0
CORRECTION_ABOVE: Final = 150.0
CARB_COUNT_SD: Final = 0.25  # log-normal relative error of the patient's carb estimate
FORGET_BOLUS_P: Final = 0.08
LATE_BOLUS_P: Final = 0.15  # bolus 15-40 minutes after the meal starts
HYPO_TREAT_BELOW: Final = 70.0  # the "rule of 15": 15 g of fast carbs below 70 mg/dL, recheck after 15 min
HYPO_TREAT_G: Final = 15.0
HYPO_TREAT_EVERY_MIN: Final = 15
DEAD_BG: Final = 10.0  # mg/dL plasma; below it simglucose's env ends a run (the model is heading for its frozen 0)

COLUMNS: Final = (
    "reading_id", "patient_key", "device_id", "kind", "value", "unit", "measured_at", "received_at",
    "source", "context", "sequence", "subgroup",
)


def subgroup_of(name: str) -> str:
    group = name.split("#", 1)[0]
    if group not in SUBGROUPS:
        raise ValueError(f"unknown simglucose patient {name!r}")
    return group


def select_patients(spec: str) -> tuple[str, ...]:
    """'all', a subgroup ('child'), 'adult:3' (first three adults) or a comma list of names."""
    picked: list[str] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part == "all":
            picked.extend(PATIENT_NAMES)
        elif part.split(":")[0] in SUBGROUPS:
            group, _, count = part.partition(":")
            names = [n for n in PATIENT_NAMES if n.startswith(group + "#")]
            picked.extend(names[: int(count)] if count else names)
        elif part in PATIENT_NAMES:
            picked.append(part)
        else:
            raise ValueError(f"unknown patient selection {part!r} (all, adult, child:2, adult#001, ...)")
    if not picked:
        raise ValueError("no patients selected")
    return tuple(dict.fromkeys(picked))


@dataclass(frozen=True, slots=True)
class SimJob:
    """One patient's simulation: its name, length, seed and deployment secret for the pseudonym."""

    name: str
    days: int
    seed: int
    secret: bytes


def patient_seed(base_seed: int, name: str) -> int:
    return base_seed * 1000 + PATIENT_NAMES.index(name)


def _fast_params(series: pd.Series) -> tuple[types.SimpleNamespace, np.ndarray]:
    values = {k: (v if k == "Name" else float(v)) for k, v in series.items()}
    return types.SimpleNamespace(**values), np.asarray(series.iloc[2:15], dtype=float)


def _quest(name: str) -> tuple[float, float]:
    """(carb ratio g/U, correction factor mg/dL per U) from simglucose's Quest table."""
    import simglucose.controller.basal_bolus_ctrller as bb

    quest = pd.read_csv(bb.CONTROL_QUEST)
    row = quest.loc[quest.Name == name].squeeze()
    return float(row.CR), float(row.CF)


def _events(job: SimJob) -> Iterator[tuple[datetime, str, float, str | None]]:
    """Runs the simulator minute by minute; yields (time, kind, value, context).

    Stops early, with a warning, when the patient's plasma glucose falls below DEAD_BG (see the module docstring).
    """
    from simglucose.patient.t1dpatient import PATIENT_PARA_FILE, Action, T1DPatient
    from simglucose.sensor.cgm import CGMSensor
    from simglucose.simulation.scenario_gen import RandomScenario

    table = pd.read_csv(PATIENT_PARA_FILE)
    params, init_state = _fast_params(table.loc[table.Name == job.name].squeeze())
    seed = patient_seed(job.seed, job.name)
    patient = T1DPatient(params, init_state=init_state, random_init_bg=True, seed=seed)
    sensor = CGMSensor.withName(SENSOR, seed=seed)
    scenario = RandomScenario(start_time=START, seed=seed)
    behaviour = np.random.default_rng(seed)
    carb_ratio, correction = _quest(job.name)
    basal = params.u2ss * params.BW / 6000.0  # U/min, the pump's steady basal
    pending_bolus: list[tuple[int, float]] = []  # (minute, units)
    last_cgm = TARGET_MGDL
    last_treated = -HYPO_TREAT_EVERY_MIN
    for minute in range(job.days * 24 * 60):
        now = START + timedelta(minutes=minute)
        bg = float(patient.state[3] / params.Vg)  # plasma glucose, mg/dL
        if bg < DEAD_BG:
            warnings.warn(f"simulate: {job.name} (seed {job.seed}) ends at minute {minute}: plasma glucose "
                          f"{bg:.2f} mg/dL, below the model's valid range", RuntimeWarning, stacklevel=2)
            return
        meal = float(scenario.get_action(now).meal)
        rescue = 0.0
        if minute % CGM_MINUTES == 0:
            last_cgm = float(sensor.measure(patient))
            yield now, "cgm", float(round(last_cgm)), None
            if last_cgm < HYPO_TREAT_BELOW and minute - last_treated >= HYPO_TREAT_EVERY_MIN:
                last_treated = minute
                rescue = HYPO_TREAT_G
                yield now, "carbs", HYPO_TREAT_G, "hypo_treatment"
        if meal > 0:
            logged = max(5.0, round(meal * math.exp(behaviour.normal(0.0, CARB_COUNT_SD))))
            yield now, "carbs", float(logged), "meal"
            if behaviour.random() >= FORGET_BOLUS_P:
                units = logged / carb_ratio
                if last_cgm > CORRECTION_ABOVE:
                    units += (last_cgm - TARGET_MGDL) / correction
                delay = int(behaviour.integers(15, 41)) if behaviour.random() < LATE_BOLUS_P else 0
                pending_bolus.append((minute + delay, round(units * 20) / 20))  # pumps step 0.05 U
        bolus = sum(u for m, u in pending_bolus if m == minute)
        if bolus > 0:
            pending_bolus = [(m, u) for m, u in pending_bolus if m != minute]
            yield now, "insulin", float(bolus), "rapid"
        patient.step(Action(CHO=meal + rescue, insulin=basal + bolus))


def simulate_patient(job: SimJob) -> pd.DataFrame:
    """One patient's readings in the reading contract's columns (UTC event time, pseudonymous key)."""
    key = patient_key(job.name, job.secret)
    device = f"sim-{key[3:15]}"
    group = subgroup_of(job.name)
    units = {"cgm": "mg/dL", "carbs": "g", "insulin": "U"}
    rows: list[dict[str, Any]] = []
    for seq, (at, kind, value, context) in enumerate(_events(job)):
        measured = at.replace(tzinfo=UTC)
        rows.append({
            "reading_id": reading_id_for(device, kind, seq, measured),
            "patient_key": key,
            "device_id": device,
            "kind": kind,
            "value": value,
            "unit": units[kind],
            "measured_at": measured,
            "received_at": measured,
            "source": "simulator",
            "context": context,
            "sequence": seq,
            "subgroup": group,
        })
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["measured_at"] = pd.to_datetime(frame["measured_at"], utc=True)
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True)
    return frame


def simulate_cohort(jobs: Sequence[SimJob], processes: int = 2, progress: bool = True) -> pd.DataFrame:
    """Runs the jobs on a process pool with a progress bar; rows sorted by patient and time."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    frames: list[pd.DataFrame] = []
    if processes <= 1:
        for job in tqdm(jobs, desc="simulate", unit="patient", disable=not progress):
            frames.append(simulate_patient(job))
    else:
        with ProcessPoolExecutor(max_workers=processes) as pool:
            futures = [pool.submit(simulate_patient, job) for job in jobs]
            for future in tqdm(as_completed(futures), total=len(futures), desc="simulate", unit="patient",
                               disable=not progress):
                frames.append(future.result())
    cohort = pd.concat(frames, ignore_index=True)
    return cohort.sort_values(["patient_key", "measured_at", "sequence"], ignore_index=True)
