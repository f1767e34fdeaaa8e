"""Builds the compiled hot path (monitor.compiled.HOT_PATH) with Cython into build/compiled/, or does nothing when
that build is current. Without Cython or a C compiler it says so and vigil runs as plain Python (exit 0), unless
--require is given.

With gcc the build is profile-guided: compiled, trained on monitor.pgo_training, compiled again (~3.5 minutes).

Usage: python -m monitor.build_compiled [--out DIR] [--jobs N] [--force] [--require] [--no-profile]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from monitor import compiled

if TYPE_CHECKING:
    from setuptools import Extension


PROFILE_ENV: Final = "VIGIL_BUILD_PROFILE"  # "0": no profile-guided build (e.g. to compare with one)
TRAINING: Final = ("-m", "monitor.pgo_training", "--require-compiled")


def build(out: Path, jobs: int, source_root: Path = compiled.SOURCE_ROOT, profile: bool = True) -> str:
    """Compiles every hot-path module into `out` (replaced whole, the manifest written last); returns the builder.

    With `profile` and gcc, twice: instrumented, then trained on monitor.pgo_training, then with the counts it
    left (-fprofile-use: the hot paths together, the error paths apart; 3 % fewer instructions and 10 % fewer
    instruction-cache misses a reading, bench/README.md eighteenth session). If any step of that fails it says
    why and builds without a profile."""
    from importlib.metadata import version

    from Cython.Build import cythonize
    from setuptools import Extension

    builder = f"Cython {version('Cython')}"
    manifest = compiled.manifest_of(source_root, builder=builder)  # digests of what is compiled, taken first
    with tempfile.TemporaryDirectory(prefix="vigil-compile-") as tmp:
        extensions = [Extension(m, [str(compiled.source_of(m, source_root))]) for m in compiled.HOT_PATH]
        # the sources' annotations are for mypy: Cython must not turn them into C type checks
        directives = {"language_level": 3, "annotation_typing": False, "binding": True}
        modules = cythonize(extensions, build_dir=str(Path(tmp) / "c"), quiet=True, nthreads=jobs,  # type: ignore[no-untyped-call]
                            compiler_directives=directives)
        flags: list[str] = []
        if profile:
            counts = Path(tmp) / "profile"
            try:
                trained = Path(tmp) / "trained"
                compile_to(trained, modules, Path(tmp) / "obj", jobs, [f"-fprofile-generate={counts}"],
                           [f"-fprofile-generate={counts}"])
                (trained / compiled.MANIFEST).write_text(json.dumps(manifest) + "\n")
                train(trained, source_root)
                flags = [f"-fprofile-use={counts}", "-fprofile-partial-training", "-Wno-missing-profile",
                         "-Wno-maybe-uninitialized"]  # inlining along the profile shows gcc Cython's argument parsing
                builder += ", profile-guided"
            except Exception as exc:  # e.g. not gcc (clang reads no .gcda), or the training failed: still a build
                print(f"building without a profile ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)
        staged = Path(tmp) / "lib"
        compile_to(staged, modules, Path(tmp) / "obj", jobs, flags, [])
        (staged / compiled.MANIFEST).write_text(json.dumps({**manifest, "builder": builder}, indent=1,
                                                           sort_keys=True) + "\n")
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


def compile_to(lib: Path, modules: list[Extension], temp: Path, jobs: int, cflags: list[str],
               ldflags: list[str]) -> None:
    """Compiles the Cython output into `lib`; both passes share `temp`, so gcc finds each object's counts."""
    from setuptools import Distribution

    for module in modules:
        module.extra_compile_args, module.extra_link_args = list(cflags), list(ldflags)
    dist = Distribution({"ext_modules": modules, "script_name": "build_compiled"})
    command = dist.get_command_obj("build_ext")
    command.build_lib, command.build_temp, command.parallel = str(lib), str(temp), jobs
    command.force = True  # the second pass recompiles every object the first left in `temp`
    dist.run_command("build_ext")


def train(trained: Path, source_root: Path) -> None:
    """Runs the training workload against the instrumented build (its counts are written when it exits)."""
    env = {k: v for k, v in os.environ.items() if k != compiled.PURE_ENV}
    env[compiled.DIR_ENV] = str(trained)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(source_root), env.get("PYTHONPATH"))))
    print("training the profile-guided build (python -m monitor.pgo_training)", flush=True)
    proc = subprocess.run([sys.executable, *TRAINING], cwd=source_root, env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        raise RuntimeError(f"the training run failed (exit {proc.returncode}): {tail}")
    print(proc.stdout.strip(), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=compiled.default_directory(), help="build directory (%(default)s)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel compiles (%(default)s)")
    ap.add_argument("--force", action="store_true", help="build even when the build is current")
    ap.add_argument("--require", action="store_true", help="fail (exit 1) when it cannot build")
    ap.add_argument("--no-profile", action="store_true",
                    help=f"one plain -O3 pass, no profile-guided build (also {PROFILE_ENV}=0); about half the time")
    args = ap.parse_args(argv)
    current = compiled.check(args.out, env={})
    if current.compiled and not args.force:
        print(f"compiled hot path is current ({current.builder}, {args.out})")
        return 0
    print(f"compiling {len(compiled.HOT_PATH)} hot-path modules with Cython into {args.out} ({current.reason})",
          flush=True)
    began = time.monotonic()
    try:
        profile = not args.no_profile and os.environ.get(PROFILE_ENV, "1") != "0"
        builder = build(args.out, max(1, args.jobs), profile=profile)
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
