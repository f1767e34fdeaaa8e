"""bench.report: the facts a result carries about the interpreter that ran it."""

from __future__ import annotations

import pytest

from bench import report

PYENV_MAPS = """\
55d0c8a00000-55d0c8a01000 r--p 00000000 08:01 1 /root/.pyenv/versions/3.11.7/bin/python3.11
7f36da600000-7f36da700000 r-xp 00000000 08:01 2 /root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0
"""
STATIC_MAPS = """\
55d0c8a00000-55d0c8f01000 r-xp 00000000 08:01 1 /usr/bin/python3.11
7fe9fb780000-7fe9fb790000 r-xp 00000000 08:01 3 /lib/x86_64-linux-gnu/libm.so.6
"""


@pytest.mark.parametrize(("config_args", "maps", "expected"), [
    ("'--prefix=/root/.pyenv/versions/3.11.7' '--enable-shared'", PYENV_MAPS,
     {"libpython_shared": True, "pgo": False, "lto": False}),
    ("'--enable-optimizations' '--with-lto' '--enable-shared'", STATIC_MAPS,
     {"libpython_shared": False, "pgo": True, "lto": True}),
    ("'--enable-optimizations'", None, {"libpython_shared": None, "pgo": True, "lto": False}),
])
def test_the_interpreter_build_is_told_from_its_flags_and_the_memory_map(config_args, maps, expected):
    assert report.interpreter_of("/x/python3", "May  9 2026", config_args, maps) == {
        "executable": "/x/python3", "built": "May  9 2026", **expected}


def test_a_result_names_the_interpreter_that_ran_it():
    facts = report.machine()["interpreter"]
    assert facts["libpython_shared"] in (True, False, None)
    assert set(facts) == {"executable", "built", "libpython_shared", "pgo", "lto"}


@pytest.mark.parametrize(("shared", "pgo", "lto", "expected"), [
    (True, False, False, "/x/python3 (built May  9 2026; libpython shared; configure: no --enable-optimizations or "
                         "--with-lto)"),
    (False, True, True, "/x/python3 (built May  9 2026; libpython static; configure: PGO + LTO)"),
    (None, False, True, "/x/python3 (built May  9 2026; libpython unknown; configure: LTO)"),
])
def test_the_header_line_says_how_the_interpreter_was_built(shared, pgo, lto, expected):
    facts = {"executable": "/x/python3", "built": "May  9 2026", "libpython_shared": shared, "pgo": pgo, "lto": lto}
    assert report.describe_interpreter(facts) == expected
