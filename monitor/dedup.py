"""Compact, exact de-duplication of readings per device stream, robust to a gateway backfill after a long outage.

A reading's identity is (device, kind, event time in seconds): reading_id_for() derives ids from the device and
the sequence number or timestamp, and a resend of the same measurement always carries the same event time. Each
stream (device, kind) remembers every event time it has seen over the last HORIZON as runs (first, step, count):
a CGM every 5 minutes is one run per stretch without a gap, so a whole day costs a few dozen bytes, and a resend
of any reading in that day - not only of the last 32 - is recognized. Below a stream's `floor` (older than the
horizon, or trimmed because the stream was too irregular) the index cannot tell: such a reading is TOO_OLD and
the engine counts it as late, never in the statistics, so nothing is counted twice.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from monitor.frozen import Frozen, quick_init

HORIZON_S: Final = 26 * 3600  # more than a UTC day: every reading of the current day's summary is covered
MAX_RUNS: Final = 48  # per stream; an irregular stream keeps fewer hours rather than growing
MAX_STREAMS: Final = 6  # per patient; a replaced sensor's stream is evicted (least recently advanced first)

Run = tuple[int, int, int]  # (first event time, step in seconds, count)


class Verdict(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"
    TOO_OLD = "too_old"


# The members as module globals for the hot path: EnumType defines __getattr__, so each `Verdict.X` goes through
# slot_tp_getattr_hook, which builds a method-wrapper for the lookup (~60 ns and an allocation a time).
NEW, DUPLICATE, TOO_OLD = Verdict.NEW, Verdict.DUPLICATE, Verdict.TOO_OLD


@quick_init
@dataclass(frozen=True, slots=True)
class Stream(Frozen):
    """The event times seen from one device and kind: runs in time order, complete from `floor` on."""

    key: str
    runs: tuple[Run, ...] = ()
    floor: int = 0


@functools.lru_cache(maxsize=65536)
def stream_key(device_id: str, kind: str) -> str:
    return hashlib.blake2b(f"{device_id}\x1f{kind}".encode(), digest_size=5).hexdigest()


def _last(run: Run) -> int:
    return run[0] + run[1] * (run[2] - 1)


def _contains(run: Run, t: int) -> bool:
    first, step, count = run
    if t < first or t > _last(run):
        return False
    return count == 1 or (t - first) % step == 0


def _times(runs: tuple[Run, ...]) -> list[int]:
    return [first + step * i for first, step, count in runs for i in range(count)]


def _encode(times: list[int]) -> tuple[Run, ...]:
    """Greedy left-to-right runs of equal steps: canonical, so any insertion order gives the same runs."""
    runs: list[Run] = []
    i = 0
    while i < len(times):
        if i + 1 == len(times):
            runs.append((times[i], 0, 1))
            break
        step, j = times[i + 1] - times[i], i + 1
        while j + 1 < len(times) and times[j + 1] - times[j] == step:
            j += 1
        runs.append((times[i], step, j - i + 1))
        i = j + 1
    return tuple(runs)


def verdict(stream: Stream | None, t: int) -> Verdict:
    if stream is None:
        return NEW
    if t < stream.floor:
        return TOO_OLD
    runs = stream.runs
    if not runs:
        return NEW
    first, step, count = runs[-1]
    if t > first + step * (count - 1):  # the live case, after everything seen (_last() inline: once a reading)
        return NEW
    return DUPLICATE if any(_contains(r, t) for r in runs) else NEW


def _encode_from(runs: tuple[Run, ...], cutoff: int) -> tuple[Run, ...]:
    """_encode() of the event times >= cutoff, without expanding the whole day.

    Greedy encoding is memoryless: from any original run's first time on it yields the original runs again. A
    cut run that keeps two or more times keeps its step and its end (the original run stopped there), so the
    original runs follow; a cut run left with one time is encoded afresh with the following times until a new
    greedy run starts at an original run's first time.
    """
    k = 0
    while _last(runs[k]) < cutoff:
        k += 1
    first, step, count = runs[k]
    skip = 0 if first >= cutoff else -((first - cutoff) // step)  # ceil((cutoff - first) / step)
    if count - skip >= 2:  # the cut run keeps its step and ends where it ended: the original runs follow
        return ((first + step * skip, step, count - skip), *runs[k + 1:])
    times = [first + step * i for i in range(skip, count)]
    start_of = {run[0]: m for m, run in enumerate(runs) if m > k}
    if skip == 0:
        start_of[first] = k
    following = k + 1

    def ensure(n: int) -> None:  # times[n] materialized, if there is one
        nonlocal following
        while len(times) <= n and following < len(runs):
            f, s, c = runs[following]
            times.extend(f + s * i for i in range(c))
            following += 1

    out: list[Run] = []
    i = 0
    while True:
        ensure(i + 1)
        if i >= len(times):
            break
        if times[i] in start_of:  # synchronized with the original runs
            return (*out, *runs[start_of[times[i]]:])
        if i + 1 == len(times):
            out.append((times[i], 0, 1))
            break
        step, j = times[i + 1] - times[i], i + 1
        ensure(j + 1)
        while j + 1 < len(times) and times[j + 1] - times[j] == step:
            j += 1
            ensure(j + 1)
        out.append((times[i], step, j - i + 1))
        i = j + 1
    return tuple(out)


def _within_bounds(runs: tuple[Run, ...], newest: int) -> bool:
    """Nothing to forget: every event time within HORIZON_S of the newest, and at most MAX_RUNS runs."""
    return runs[0][0] >= newest - HORIZON_S and len(runs) <= MAX_RUNS


def _trim(runs: tuple[Run, ...], floor: int) -> tuple[tuple[Run, ...], int]:
    """Forgets event times older than HORIZON_S before the newest and runs beyond MAX_RUNS (raising the floor)."""
    if not runs:
        return runs, floor
    newest = _last(runs[-1])
    if _within_bounds(runs, newest):
        return runs, floor
    cutoff = newest - HORIZON_S
    if runs[0][0] < cutoff:
        runs, floor = _encode_from(runs, cutoff), max(floor, cutoff)
    if len(runs) > MAX_RUNS:
        floor = max(floor, runs[len(runs) - MAX_RUNS][0])
        runs = runs[-MAX_RUNS:]
    return runs, floor


def add(stream: Stream, t: int) -> Stream:
    """Remembers a NEW event time (the caller checked verdict() first)."""
    runs = stream.runs
    if runs:
        first, step, count = runs[-1]
        last = first + step * (count - 1)  # _last(runs[-1]), inline: once a reading
        if t > last:  # the live case: append, extending the newest run when the step fits
            # concatenated, not starred: compiled, the starred form builds a list first
            if count == 1 or t - last == step:
                new_runs = runs[:-1] + ((first, t - first if count == 1 else step, count + 1),)  # noqa: RUF005
            else:
                new_runs = runs + ((t, 0, 1),)  # noqa: RUF005
            if new_runs[0][0] >= t - HORIZON_S and len(new_runs) <= MAX_RUNS:  # _within_bounds(new_runs, t)
                return Stream(stream.key, new_runs, stream.floor)  # _trim would keep it all
        else:  # a backfill into the past: rebuild this stream's runs (at most a day of readings)
            new_runs = _encode(sorted({*_times(runs), t}))
    else:
        new_runs = ((t, 0, 1),)
    return Stream(stream.key, *_trim(new_runs, stream.floor))


def observe(streams: tuple[Stream, ...], device_id: str, kind: str, t: int
            ) -> tuple[tuple[Stream, ...], Verdict]:
    """Checks one reading's (device, kind, event time) and remembers it when it is new."""
    key = stream_key(device_id, kind)
    current = None
    at = 0
    for s in streams:
        if s.key == key:
            current = s
            break
        at += 1
    found = verdict(current, t)
    if found is not NEW:
        return streams, found
    if current is not None:  # keys are unique: the others are the streams before and after it
        return streams[:at] + streams[at + 1:] + (add(current, t),), found  # concatenated: no list, compiled
    updated = add(Stream(key), t)
    others = list(streams)
    if len(others) >= MAX_STREAMS:
        others.sort(key=lambda s: _last(s.runs[-1]) if s.runs else 0)
        others = others[len(others) - MAX_STREAMS + 1:]
    return (*others, updated), found
