"""bench.loop_path drives worker_core the way the rdkafka loop does: batching must not change what comes out."""

from __future__ import annotations

import pytest

from bench import loop_path, workload


def test_batch_size_changes_the_cost_never_the_outputs(tmp_path):
    feed = workload.readings(workload.patients(12, seed=9, dip_share=1.0), 1500, first_step=60)
    small, large = (loop_path.run_once(feed, batch, tmp_path) for batch in (7, 1000))
    assert small.readings == large.readings == len(feed)
    assert small.outputs["alerts"] > 0
    assert small.outputs == large.outputs
    assert small.us_per_reading > 0 and large.us_per_reading > 0


def test_the_command_refuses_an_empty_batch(capsys):
    with pytest.raises(SystemExit):
        loop_path.main(["--batch", "0"])
    assert "must be at least 1" in capsys.readouterr().err
