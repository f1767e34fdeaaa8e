"""Profiles one real `vigil worker` under load with py-spy: the biggest costs by function (inclusive and self).

Usage: python -m bench.profile_worker [--readings 8000] [--seconds 20] [--native]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench import cluster, workload
from bench.clients import payloads_of
from monitor.topics import READINGS, namespaced

PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))  # the venv's, off PATH too


def summarize(collapsed: Path, top: int) -> str:
    """Inclusive and self sample shares per function from py-spy's collapsed ("raw") output."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 2)[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    lines = [f"{total} samples", "inclusive:"]
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in inclusive.most_common(top)]
    lines += ["self:"] + [f"  {100 * c / total:5.1f}%  {name}" for name, c in own.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--readings", type=int, default=8000)
    ap.add_argument("--patients", type=int, default=500)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--top", type=int, default=45)
    ap.add_argument("--native", action="store_true",
                    help="sample C frames too: the compiled hot path (monitor/compiled.py) shows only so")
    args = ap.parse_args()
    feed = payloads_of(workload.readings(workload.patients(args.patients), args.readings))
    out = Path(tempfile.mkdtemp(prefix="vigil-profile-"))
    with cluster.broker() as kafka:
        ns = cluster.new_namespace(kafka.bootstrap)
        with cluster.workers(kafka.bootstrap, ns, 1, out) as (worker,):
            assert worker.proc is not None
            collapsed = out / "worker.collapsed"
            spy = subprocess.Popen([PY_SPY, "record", "-p", str(worker.proc.pid), "-d", str(args.seconds),
                                    "-f", "raw", "-o", str(collapsed),
                                    *(["--native"] if args.native else ["--nonblocking"])],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            loader = threading.Thread(target=cluster.preload, args=(kafka.bootstrap, namespaced(READINGS, ns), feed))
            loader.start()
            spy.wait()
            loader.join()
    print(summarize(collapsed, args.top))
    print(f"collapsed stacks: {collapsed}")


if __name__ == "__main__":
    main()
