"""`vigil worker` picks its runtime from --runtime or VIGIL_WORKER_RUNTIME and refuses an unknown one."""

from __future__ import annotations

import pytest

from monitor import __main__ as cli
from monitor.config import Settings


@pytest.mark.parametrize(("env", "argv", "expected"), [
    (None, [], "rdkafka"),
    ("faust", [], "faust"),
    ("faust", ["--runtime", "batch"], "batch"),
])
def test_the_runtime_comes_from_the_flag_then_the_environment(monkeypatch, env, argv, expected):
    if env is None:
        monkeypatch.delenv("VIGIL_WORKER_RUNTIME", raising=False)
    else:
        monkeypatch.setenv("VIGIL_WORKER_RUNTIME", env)
    assert cli.build_parser().parse_args(["worker", *argv]).runtime == expected


def test_an_unknown_runtime_from_the_environment_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("VIGIL_WORKER_RUNTIME", "fast")
    args = cli.build_parser().parse_args(["worker"])
    assert cli._worker(args, Settings()) == 2
    assert "unknown runtime 'fast'" in capsys.readouterr().err
