"""bench.loop_path drives worker_core the way the rdkafka loop does: batching must not change what comes out."""

from __future__ import annotations

import pytest

from bench import loop_path, workload


def test_batch_size_changes_the_cost_never_the_outputs(tmp_path):
    feed = workload.readings(workload.patients(12, seed=9, dip_share=1.0), 1500, first_step=60)
    small, large = (loop_path.run_once(feed, batch, tmp_path) for batch in (7, 1000))
    evicted = loop_path.run_once(feed, 7, tmp_path, evict_kib=64)
    idle = loop_path.run_once(feed[:300], 100, tmp_path, idle_ms=1)
    spun = loop_path.run_once(feed[:300], 100, tmp_path, spin_ms=1)
    assert small.readings == large.readings == evicted.readings == len(feed)
    assert small.outputs["alerts"] > 0
    assert small.outputs == large.outputs == evicted.outputs
    assert idle.readings == spun.readings == 300
    assert idle.outputs == spun.outputs == loop_path.run_once(feed[:300], 100, tmp_path).outputs
    assert small.us_per_reading > 0 and large.us_per_reading > 0


@pytest.mark.parametrize(("args", "said"), [(["--batch", "0"], "--batch must be at least 1"),
                                            (["--evict-kib", "-1"], "--idle-ms and --spin-ms at least 0"),
                                            (["--idle-ms", "-5"], "--idle-ms and --spin-ms at least 0"),
                                            (["--spin-ms", "-1"], "--idle-ms and --spin-ms at least 0")])
def test_the_command_refuses_an_empty_batch_or_a_negative_eviction_idle_or_spin(capsys, args, said):
    with pytest.raises(SystemExit):
        loop_path.main(args)
    assert said in capsys.readouterr().err
