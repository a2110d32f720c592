"""Issue 13's differential test, seeded: 140 random trees (15 modules each) spread over the
pyenv interpreters 3.8-3.13 and Debian's python3, each scanned and then imported with ``-v``;
every pyc's scan category must be what CPython did (:mod:`oracle.bytecode`). The trees mix
every condition and modifier of the generator: PYTHONPYCACHEPREFIX inside the tree, immutable
and read-only pycs and directories, sticky directories (scan and import as ``nobody`` for an
interpreter it can run), cut bodies of any length, namespace packages, symlinks, zip files."""

from __future__ import annotations

import random

import pytest

from oracle.bytecode import default_pythons, make_case, run_case, target_of

CASES = 140


def test_scan_agrees_with_cpython_on_random_trees() -> None:
    pythons = default_pythons()
    if not pythons:
        pytest.skip("no target interpreter")
    targets = {p: target_of(p) for p in pythons}
    rng = random.Random(13)
    compared = 0
    disagreements: list[str] = []
    for i in range(CASES):
        py = pythons[i % len(pythons)]
        n, dis = run_case(make_case(13, i, py, rng, 15), targets[py], rng)
        compared += n
        disagreements.extend(str(d) for d in dis)
    assert compared > CASES * 10
    assert disagreements == []
