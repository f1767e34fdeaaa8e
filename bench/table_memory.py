"""RSS cost of N patients' state held the way faust's memory store holds a table: {patient_key: state bytes}.

Runs in a fresh process that first imports the worker (monitor.agents builds the faust app), so the baseline has
the worker's own footprint. Usage: python -m bench.table_memory N VALUE_FILE (one sampled state per line, hex).
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

from bench.cluster import rss_kib
from monitor.pseudonym import patient_key


def main() -> None:
    n = int(sys.argv[1])
    samples = [bytes.fromhex(line) for line in Path(sys.argv[2]).read_text().split()]
    import monitor.agents  # noqa: F401 - the worker's import footprint is part of the baseline

    gc.collect()
    before = rss_kib(os.getpid())
    table: dict[str, bytes] = {}
    for i in range(n):
        key = patient_key(f"bench-mem-{i:07d}", b"vigil-bench-secret-0123456789")
        table[key] = samples[i % len(samples)].replace(b"KEYKEYKEY", key.encode())
    gc.collect()
    after = rss_kib(os.getpid())
    print(before, after, len(table))


if __name__ == "__main__":
    main()
