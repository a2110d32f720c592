"""The benchmark keeps working: its small version runs end to end (no timing is asserted:
speed is measured by ``benchmarks/bench_bytecode.py``, never by a test)."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import clean_env, run

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_bytecode.py"


def test_small_benchmark_runs(tmp_path: Path) -> None:
    proc = run([sys.executable, BENCH, "--small", "--cache-dir", tmp_path], env=clean_env())
    out = proc.stdout
    assert "(2,040 .pyc files)" in out  # 2,000 modules + 40 package __init__ files
    for line in ("ratio scan / minimal scan:", "ratio scan / compileall -q:", "scan peak memory:"):
        assert line in out


def test_small_report_benchmark_runs(tmp_path: Path) -> None:
    bench = BENCH.parent / "bench_report.py"
    out = run([sys.executable, bench, "--small", "--cache-dir", tmp_path], env=clean_env()).stdout
    for line in (
        "ratio pyenvdoctor report / pip inspect:",
        "ratio pyenvdoctor which json / pip --version:",
        "generated tree (memory must not grow",
    ):
        assert line in out
