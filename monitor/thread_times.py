"""One thread's kernel counters (Linux /proc): whether a slow turn ran in user code, in the kernel (page faults),
or runnable and waiting for its core (thirty-first session: the slow seconds' turns cost 34-36 us a reading on the
CPU against 22-23 around them)."""

from __future__ import annotations

import os
from typing import NamedTuple


class ThreadTimes(NamedTuple):
    """A thread's counters since it started."""

    user_s: float  # CPU time in user mode
    system_s: float  # CPU time in the kernel on its behalf (page faults, system calls)
    minor_faults: int  # page faults served without I/O (first touch of a page, a page given back and taken again)
    major_faults: int
    waiting_s: float  # runnable, waiting for a core (another thread or process had it)

    def __sub__(self, earlier: tuple[float | int, ...]) -> ThreadTimes:
        """What happened between `earlier` and this."""
        return ThreadTimes(*(now - then for now, then in zip(self, earlier, strict=True)))  # type: ignore[arg-type]


def parse(stat: str, schedstat: str, ticks_per_s: float) -> ThreadTimes:
    """/proc/<pid>/task/<tid>/stat and .../schedstat as ThreadTimes (proc(5): the fields after the command name,
    which may hold spaces and parentheses, count from its closing one)."""
    fields = stat[stat.rindex(")") + 2:].split()
    # proc(5) numbers the fields from 1 with the pid; fields[0] here is the 3rd, state
    minor, major, user, system = int(fields[7]), int(fields[9]), int(fields[11]), int(fields[12])
    waiting_ns = int(schedstat.split()[1])
    return ThreadTimes(user / ticks_per_s, system / ticks_per_s, minor, major, waiting_ns / 1e9)


def read(tid: int) -> ThreadTimes | None:
    """The counters of thread `tid` of this process; None where /proc does not give them (not Linux, no schedstat)."""
    base = f"/proc/self/task/{tid}"
    try:
        with open(f"{base}/stat") as stat, open(f"{base}/schedstat") as schedstat:
            return parse(stat.read(), schedstat.read(), os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None
