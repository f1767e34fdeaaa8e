"""The compiled hot path is used only when built from the current sources, and scores exactly as plain Python."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import compiled

MODULES = ("monitor.alpha", "models.beta")


@pytest.fixture
def tree(tmp_path: Path):
    """A source tree of two modules and a build of them; returns a function that makes the build."""
    source_root, build = tmp_path / "src", tmp_path / "build"
    for module in MODULES:
        path = compiled.source_of(module, source_root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"NAME = {module!r}\n")

    def make(modules: tuple[str, ...] = MODULES, skip: str | None = None) -> tuple[Path, Path]:
        shutil.rmtree(build, ignore_errors=True)
        for module in modules:
            if module != skip:
                copy = compiled.copy_of(module, build)
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(b"\x7fELF")
        manifest = compiled.manifest_of(source_root, modules, builder="Cython 9.9")
        (build / compiled.MANIFEST).write_text(json.dumps(manifest))
        return source_root, build

    return make


def check(source_root: Path, build: Path, env: dict[str, str] | None = None) -> compiled.Status:
    return compiled.check(build, source_root, env or {}, MODULES)


def test_a_build_of_the_current_sources_is_used(tree):
    source_root, build = tree()
    assert check(source_root, build) == compiled.Status(True, "built from the current sources", build, "Cython 9.9")


def test_a_changed_source_makes_the_whole_build_unused(tree):
    source_root, build = tree()
    compiled.source_of("models.beta", source_root).write_text("NAME = 'edited'\n")
    status = check(source_root, build)
    assert (status.compiled, status.reason) == (False, "beta.py changed since the build: rebuild")


def test_the_pure_python_switch_wins_over_a_current_build(tree):
    source_root, build = tree()
    status = check(source_root, build, {compiled.PURE_ENV: "1"})
    assert (status.compiled, status.reason) == (False, "VIGIL_PURE_PYTHON is set")
    assert check(source_root, build, {compiled.PURE_ENV: "0"}).compiled


def test_no_build_another_module_list_a_missing_copy_or_another_python_are_refused(tree, tmp_path):
    assert check(tmp_path / "src", tmp_path / "nothing").reason.startswith("not built")
    source_root, build = tree(modules=("monitor.alpha",))
    assert check(source_root, build).reason == "built for another list of modules: rebuild"
    source_root, build = tree(skip="monitor.alpha")
    assert check(source_root, build).reason == "monitor.alpha missing from the build: rebuild"
    manifest = json.loads((build / compiled.MANIFEST).read_text()) | {"suffix": ".cpython-27.so"}
    (build / compiled.MANIFEST).write_text(json.dumps(manifest))
    assert check(source_root, build).reason == "built for another Python (.cpython-27.so)"
    (build / compiled.MANIFEST).write_text("[1, 2")
    assert check(source_root, build).reason.startswith("unreadable manifest")


def test_a_package_path_gets_the_build_first_only_when_it_is_used(monkeypatch, tmp_path):
    used = compiled.Status(True, "built from the current sources", tmp_path, "Cython 9.9")
    monkeypatch.setattr(compiled, "status", lambda: used)
    assert compiled.package_path("monitor", ["/src/monitor"]) == [str(tmp_path / "monitor"), "/src/monitor"]
    assert compiled.package_path("monitor", [str(tmp_path / "monitor")]) == [str(tmp_path / "monitor")]
    monkeypatch.setattr(compiled, "status", lambda: compiled.Status(False, "not built"))
    assert compiled.package_path("monitor", ["/src/monitor"]) == ["/src/monitor"]


def test_make_test_runs_the_compiled_hot_path():
    """`make test` builds it first and sets VIGIL_EXPECT_COMPILED: a failed build must not pass unnoticed."""
    if os.environ.get("VIGIL_EXPECT_COMPILED") != "1":
        pytest.skip("only under `make test`, which builds the compiled hot path first")
    from monitor import engine

    assert compiled.status().compiled, compiled.status().reason
    assert Path(engine.__file__).suffix != ".py"
    if shutil.which("gcc") and os.environ.get("VIGIL_BUILD_PROFILE", "1") != "0":
        assert compiled.status().builder.endswith(", profile-guided"), compiled.status().builder


SCORE_A_COHORT = """
import hashlib, tempfile
from pathlib import Path
from bench import workload
from models.registry import worker_forecasters
from monitor import compiled, worker_core
from monitor.records import Reading, to_json
from monitor.state_cache import StateCache
print(compiled.status().compiled)
core = worker_core.WorkerCore(clock=lambda: None, forecaster_for=worker_forecasters(Path(tempfile.mkdtemp())))
tables = worker_core.PartitionTables(StateCache())
digest = hashlib.sha256()
for offset, r in enumerate(workload.readings(workload.patients(40), 4000)):
    for out in core.reading(tables, to_json(r), worker_core.Origin("readings", 0, offset), now=r.received_at):
        digest.update(out.topic.encode() + out.key + out.value)
for out in tables.flush(everything=True):
    digest.update(out.key + out.value)
print(digest.hexdigest())
"""


def test_the_compiled_hot_path_scores_byte_for_byte_as_plain_python():
    """Same alerts, summaries and state bytes for 4,000 readings of 40 patients, with and without the build."""
    if not compiled.status().compiled:
        pytest.skip(f"the compiled hot path is not in use here: {compiled.status().reason}")
    root = str(compiled.SOURCE_ROOT)

    def run(pure: str) -> list[str]:
        env = {**os.environ, compiled.PURE_ENV: pure, "PYTHONPATH": root}
        done = subprocess.run([sys.executable, "-c", SCORE_A_COHORT], env=env, cwd=root, capture_output=True,
                              text=True, timeout=240, check=True)
        return done.stdout.split()

    assert run("0")[0] == "True"
    pure = run("1")
    assert pure[0] == "False"
    assert run("0")[1] == pure[1]


def test_the_builder_says_why_it_cannot_build_and_fails_only_when_required(monkeypatch, tmp_path, capsys):
    from monitor import build_compiled

    def no_compiler(out: Path, jobs: int, profile: bool = True) -> str:
        raise FileNotFoundError("gcc")

    monkeypatch.setattr(build_compiled, "build", no_compiler)
    assert build_compiled.main(["--out", str(tmp_path / "b")]) == 0
    said = capsys.readouterr().err
    assert "could not compile the hot path (FileNotFoundError: gcc); vigil runs as plain Python" in said
    assert build_compiled.main(["--out", str(tmp_path / "b"), "--require"]) == 1


def test_the_builder_does_nothing_when_the_build_is_current(monkeypatch, tmp_path, capsys):
    from monitor import build_compiled

    current = compiled.Status(True, "built from the current sources", tmp_path, "Cython 9.9")
    monkeypatch.setattr(compiled, "check", lambda *args, **kwargs: current)
    monkeypatch.setattr(build_compiled, "build", lambda out, jobs, profile=True: pytest.fail("built again"))
    assert build_compiled.main(["--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"compiled hot path is current (Cython 9.9, {tmp_path})\n"


@pytest.fixture
def fake_compiler(monkeypatch, tmp_path):
    """build() with Cython's and the C compiler's steps recorded instead of run; returns the flags of each pass."""
    import Cython.Build

    from monitor import build_compiled

    passes: list[tuple[str, list[str], list[str]]] = []

    def compile_to(lib: Path, modules: list, temp: Path, jobs: int, cflags: list[str], ldflags: list[str]) -> None:
        lib.mkdir(parents=True, exist_ok=True)
        passes.append((lib.name, cflags, ldflags))

    monkeypatch.setattr(Cython.Build, "cythonize", lambda extensions, **kwargs: extensions)
    monkeypatch.setattr(build_compiled, "compile_to", compile_to)
    return passes


def test_the_build_is_trained_then_compiled_with_its_profile(fake_compiler, monkeypatch, tmp_path):
    from monitor import build_compiled

    trained: list[Path] = []
    monkeypatch.setattr(build_compiled, "train", lambda lib, root: trained.append(lib))
    builder = build_compiled.build(tmp_path / "out", 1)
    assert builder.endswith(", profile-guided")
    (first, generate, link), (last, use, _) = fake_compiler
    assert (first, last) == ("trained", "lib") and trained and trained[0].name == "trained"
    assert generate[0].startswith("-fprofile-generate=") and link == generate
    assert use[0] == "-fprofile-use=" + generate[0].split("=", 1)[1]  # the counts the training left
    assert json.loads((tmp_path / "out" / compiled.MANIFEST).read_text())["builder"] == builder


def test_a_failed_training_still_gives_a_build_without_a_profile(fake_compiler, monkeypatch, tmp_path, capsys):
    from monitor import build_compiled

    def fails(lib: Path, root: Path) -> None:
        raise RuntimeError("the training run failed (exit 1): boom")

    monkeypatch.setattr(build_compiled, "train", fails)
    builder = build_compiled.build(tmp_path / "out", 1)
    assert not builder.endswith("profile-guided")
    assert fake_compiler[-1] == ("lib", [], [])
    said = capsys.readouterr().err
    assert "building without a profile (RuntimeError: the training run failed (exit 1): boom)" in said


@pytest.mark.parametrize(("argv", "env", "profile"), [([], {}, True), (["--no-profile"], {}, False),
                                                      ([], {"VIGIL_BUILD_PROFILE": "0"}, False)])
def test_the_profile_can_be_turned_off(monkeypatch, tmp_path, argv, env, profile):
    from monitor import build_compiled

    asked: list[bool] = []

    def build(out: Path, jobs: int, profile: bool = True) -> str:
        asked.append(profile)
        raise FileNotFoundError("gcc")  # stops here: only the choice is tested

    monkeypatch.delenv("VIGIL_BUILD_PROFILE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(build_compiled, "build", build)
    build_compiled.main(["--out", str(tmp_path / "b"), "--force", *argv])
    assert asked == [profile]


@pytest.mark.parametrize(("value", "requested"), [(None, False), ("", False), ("0", False), ("1", True),
                                                  ("yes", True)])
def test_plain_python_is_requested_by_any_value_but_empty_or_0(value, requested):
    env = {} if value is None else {compiled.PURE_ENV: value}
    assert compiled.pure_requested(env) is requested
