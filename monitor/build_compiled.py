"""Builds the compiled hot path (monitor.compiled.HOT_PATH) with Cython into build/compiled/, or does nothing when
that build is current. Without Cython or a C compiler it says so and vigil runs as plain Python (exit 0), unless
--require is given.

Usage: python -m monitor.build_compiled [--out DIR] [--jobs N] [--force] [--require]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from monitor import compiled


def build(out: Path, jobs: int, source_root: Path = compiled.SOURCE_ROOT) -> str:
    """Compiles every hot-path module into `out` (replaced whole, the manifest written last); returns the builder."""
    from importlib.metadata import version

    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    builder = f"Cython {version('Cython')}"
    manifest = compiled.manifest_of(source_root, builder=builder)  # digests of what is compiled, taken first
    with tempfile.TemporaryDirectory(prefix="vigil-compile-") as tmp:
        extensions = [Extension(m, [str(compiled.source_of(m, source_root))]) for m in compiled.HOT_PATH]
        # the sources' annotations are for mypy: Cython must not turn them into C type checks
        directives = {"language_level": 3, "annotation_typing": False, "binding": True}
        modules = cythonize(extensions, build_dir=str(Path(tmp) / "c"), quiet=True, nthreads=jobs,  # type: ignore[no-untyped-call]
                            compiler_directives=directives)
        staged = Path(tmp) / "lib"
        dist = Distribution({"ext_modules": modules, "script_name": "build_compiled"})
        command = dist.get_command_obj("build_ext")
        command.build_lib, command.build_temp, command.parallel = str(staged), str(Path(tmp) / "obj"), jobs
        dist.run_command("build_ext")
        (staged / compiled.MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        out.parent.mkdir(parents=True, exist_ok=True)
        fresh = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
        shutil.copytree(staged, fresh, dirs_exist_ok=True)
        fresh.chmod(0o755)  # mkdtemp makes it private; the build is for every user of this checkout or image
    # Swapped in by renames: a worker starting meanwhile finds the old build, none (plain Python) or the new one,
    # never a half-copied one.
    old = out.with_name(f".{out.name}-old-{os.getpid()}")
    if out.exists():
        out.rename(old)
    fresh.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    return builder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=compiled.default_directory(), help="build directory (%(default)s)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel compiles (%(default)s)")
    ap.add_argument("--force", action="store_true", help="build even when the build is current")
    ap.add_argument("--require", action="store_true", help="fail (exit 1) when it cannot build")
    args = ap.parse_args(argv)
    current = compiled.check(args.out, env={})
    if current.compiled and not args.force:
        print(f"compiled hot path is current ({current.builder}, {args.out})")
        return 0
    print(f"compiling {len(compiled.HOT_PATH)} hot-path modules with Cython into {args.out} ({current.reason})",
          flush=True)
    began = time.monotonic()
    try:
        builder = build(args.out, max(1, args.jobs))
    except Exception as exc:  # no Cython, no compiler, no Python headers: plain Python still runs everything
        print(f"could not compile the hot path ({type(exc).__name__}: {exc}); vigil runs as plain Python",
              file=sys.stderr)
        return 1 if args.require else 0
    after = compiled.check(args.out, env={})
    if not after.compiled:
        print(f"the build is not usable: {after.reason}", file=sys.stderr)
        return 1 if args.require else 0
    print(f"compiled with {builder} in {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
