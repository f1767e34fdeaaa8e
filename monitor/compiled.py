"""Puts Cython-compiled copies of the scoring hot path first on their packages' paths, only while every copy was
built from the source that is there now: a stale build is never imported, and plain Python is always the fallback.

The sources stay plain, typed Python (strict mypy, tests, tracebacks with line numbers); the compiled copies are
an accelerator built by `python -m monitor.build_compiled` (the Makefile runs it) into build/compiled/. Set
VIGIL_PURE_PYTHON=1 to run without them (e.g. to profile with py-spy, which cannot see inside compiled frames).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final

HOT_PATH: Final = (
    "models.baseline",
    "monitor.dedup",
    "monitor.engine",
    "monitor.epoch_fast",
    "monitor.episodes",
    "monitor.explain",
    "monitor.findings",
    "monitor.forecast_memo",
    "monitor.frozen_init",
    "monitor.records",
    "monitor.rules_glucose",
    "monitor.rounding_fast",
    "monitor.rules_vitals",
    "monitor.scoring",
    "monitor.short_id_fast",
    "monitor.state_cache",
    "monitor.state_codec",
    "monitor.summary",
    "monitor.targets",
    "monitor.trend",
    "monitor.trend_fast",
    "monitor.worker_core",
)
"""What a reading passes through in a worker: parse, de-duplicate, score, advance episodes, explain, keep state."""

MANIFEST: Final = "manifest.json"
PURE_ENV: Final = "VIGIL_PURE_PYTHON"
DIR_ENV: Final = "VIGIL_COMPILED_DIR"
SOURCE_ROOT: Final = Path(__file__).resolve().parents[1]  # the directory that holds monitor/ and models/


def default_directory(source_root: Path = SOURCE_ROOT) -> Path:
    return source_root / "build" / "compiled"


def extension_suffix() -> str:
    """The interpreter's own suffix (e.g. .cpython-311-x86_64-linux-gnu.so): another Python never loads the build."""
    return str(sysconfig.get_config_var("EXT_SUFFIX"))


def source_of(module: str, source_root: Path = SOURCE_ROOT) -> Path:
    """A module's .py, or its .pyx when it has no .py (a module that exists only compiled: monitor.frozen_init,
    monitor.epoch_fast, monitor.rounding_fast, monitor.short_id_fast, monitor.trend_fast)."""
    path = source_root.joinpath(*module.split("."))
    cython_only = path.with_suffix(".pyx")
    return cython_only if cython_only.is_file() and not path.with_suffix(".py").is_file() else path.with_suffix(".py")


def copy_of(module: str, directory: Path) -> Path:
    """Where a build keeps a module's compiled copy: the package's path under `directory`, this Python's suffix."""
    return directory.joinpath(*module.split(".")).with_suffix(extension_suffix())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_of(source_root: Path, modules: tuple[str, ...] = HOT_PATH, builder: str = "") -> dict[str, object]:
    """What a build records: each module's source digest, the interpreter's suffix and the compiler."""
    return {"suffix": extension_suffix(), "builder": builder,
            "modules": {m: digest(source_of(m, source_root)) for m in modules}}


@dataclass(frozen=True, slots=True)
class Status:
    """Whether the compiled copies are in use, and why (logged by the workers, written by the bench)."""

    compiled: bool
    reason: str
    directory: Path | None = None
    builder: str = ""

    def describe(self) -> str:
        return f"compiled ({self.builder})" if self.compiled else f"pure Python ({self.reason})"


def pure_requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether VIGIL_PURE_PYTHON asks for plain Python (any value but empty or 0), as against a missing build."""
    return (os.environ if env is None else env).get(PURE_ENV, "") not in ("", "0")


def check(directory: Path, source_root: Path = SOURCE_ROOT, env: Mapping[str, str] | None = None,
          modules: tuple[str, ...] = HOT_PATH) -> Status:
    """All or nothing: every hot-path module must have a copy built from its current source for this Python."""
    if pure_requested(env):
        return Status(False, f"{PURE_ENV} is set")
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        return Status(False, f"not built: run `python -m monitor.build_compiled` (looked in {directory})")
    except (OSError, ValueError) as exc:
        return Status(False, f"unreadable manifest in {directory}: {exc}")
    if not isinstance(manifest, dict):
        return Status(False, f"unreadable manifest in {directory}: not an object")
    if manifest.get("suffix") != extension_suffix():
        return Status(False, f"built for another Python ({manifest.get('suffix')})")
    built = manifest.get("modules")
    if not isinstance(built, dict) or set(built) != set(modules):
        return Status(False, "built for another list of modules: rebuild")
    for module in modules:
        source = source_of(module, source_root)
        try:
            current = digest(source)
        except OSError as exc:
            return Status(False, f"cannot read {source}: {exc}")
        if built[module] != current:
            return Status(False, f"{source.name} changed since the build: rebuild")
        if not copy_of(module, directory).is_file():
            return Status(False, f"{module} missing from the build: rebuild")
    return Status(True, "built from the current sources", directory, str(manifest.get("builder", "")))


@functools.lru_cache(maxsize=1)
def status() -> Status:
    """The decision of this process, taken once, before the first hot-path module is imported."""
    directory = Path(os.environ.get(DIR_ENV) or default_directory())
    return check(directory)


def package_path(package: str, path: list[str]) -> list[str]:
    """A package's __path__ with the compiled directory of that package first, when the build is in use."""
    current = status()
    if not current.compiled or current.directory is None:
        return path
    compiled = str(current.directory / package)
    return path if compiled in path else [compiled, *path]


def compiled_module(module: str) -> ModuleType | None:
    """A module that exists only compiled (e.g. monitor.frozen_init) when the compiled hot path is in use
    (package_path puts the build first), else None: its plain-Python caller then keeps its own definitions."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def compiled_only(module: str, name: str) -> Any | None:
    """`name` of a compiled-only module (see compiled_module), else None."""
    found = compiled_module(module)
    return None if found is None else getattr(found, name)
