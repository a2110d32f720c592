"""Benchmark: pyenvdoctor's bytecode scan against the commands it replaces, in one run.

Compares, on the same up-to-date tree, alternating the commands and taking medians:

* ``find ROOT -name '*.pyc'``: listing only, the floor;
* ``python -m compileall -q ROOT``: the same header check, done by CPython;
* a minimal single-threaded Python scan (:data:`MINIMAL`): read each pyc header, stat each
  source, nothing else: what the scan cannot beat;
* ``scan_bytecode`` (pyenvdoctor), with every rule of :mod:`pyenvdoctor.collect.bytecode`, in
  one process: the like-for-like comparison with the minimal scan;
* the same scan as ``pyenvdoctor report`` runs it: ``BackgroundScan``, two forked workers.

Each command runs in its own process; peak memory is that process's ``ru_maxrss``. Prints the
machine, medians and the ratios the issue sets targets for (scan <= 1.2x minimal, scan <=
0.4x compileall, peak memory < 60 MB). The tree is generated once and cached outside the
repository (``--cache-dir``, default ``~/.cache/pyenvdoctor-bench``); ``--root DIR`` measures an
existing tree instead (e.g. a real site-packages). ``--small`` is the few-second version CI runs.

    .venv/bin/python benchmarks/bench_bytecode.py                 # 50,000 modules
    .venv/bin/python benchmarks/bench_bytecode.py --root .venv/lib/python3.11/site-packages
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

#: The reference minimal scan: one header read and one source stat per pyc.
MINIMAL = """\
import os, sys
n = 0
for d, dirs, files in os.walk(sys.argv[1]):
    if os.path.basename(d) != "__pycache__":
        continue
    parent = os.path.dirname(d)
    for f in files:
        if f.endswith(".pyc"):
            with open(os.path.join(d, f), "rb") as fh:
                fh.read(16)
            try:
                os.stat(os.path.join(parent, f.split(".")[0] + ".py"))
            except OSError:
                pass
            n += 1
print(n)
"""

SCAN = """\
import sys
from pyenvdoctor.collect.bytecode import BytecodeTarget, ScanRoot, scan_bytecode
from pyenvdoctor.model import LocationClass
import importlib.util
target = BytecodeTarget(
    executable=sys.executable, version_info=sys.version_info[:2],
    cache_tag=sys.implementation.cache_tag, magic_number=importlib.util.MAGIC_NUMBER,
    check_hash_based_pycs="default", extension_suffixes=tuple(importlib.machinery.EXTENSION_SUFFIXES),
)
s = scan_bytecode([ScanRoot(path=sys.argv[1], location=LocationClass.OTHER)], target)
print(s.scanned_files)
"""

#: The scan as ``pyenvdoctor report`` runs it: two forked workers (BackgroundScan).
FORKED = (
    SCAN.replace("scan_bytecode(", "BackgroundScan(")
    .replace("target)\n", "target).result()\n")
    .replace("import BytecodeTarget,", "import BackgroundScan, BytecodeTarget,")
)

#: Wraps a command to report its wall time (without the wrapper's own start-up) and peak
#: memory (KiB on Linux) on the last stderr line.
PEAK = (
    "import resource, subprocess, sys, time; "
    "t = time.perf_counter(); "
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "t = time.perf_counter() - t; "
    "print(t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(p.returncode)"
)

MODULE = (
    '"""Generated module {i}."""\n\nimport os\n\n\ndef f{i}(x):\n    return os.path.join(str(x), "{i}")\n\n\nVALUE = {i}\n'
    + "# padding\n" * 40
)


def build_tree(root: Path, modules: int) -> Path:
    """A site-packages-like tree of ``modules`` modules in packages of 50, compiled once."""
    marker = root / f".complete-{modules}"
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    for i in range(modules):
        pkg = root / f"pkg{i // 50:05d}"
        if i % 50 == 0:
            pkg.mkdir(parents=True)
            (pkg / "__init__.py").write_text("")
        (pkg / f"mod{i:06d}.py").write_text(MODULE.format(i=i))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j0", str(root)], check=True, env=env
    )
    marker.write_text("")
    return root


def measure(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of ``cmd`` in its own process."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # Not check=True: compileall exits 1 on files that do not compile (the stdlib's tests).
    proc = subprocess.run(
        [sys.executable, "-c", PEAK, *cmd], capture_output=True, text=True, env=env, check=False
    )
    seconds, peak = proc.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(peak) * 1024


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="measure this existing tree instead of the generated one")
    parser.add_argument("--modules", type=int, default=50_000, help="modules in the generated tree")
    parser.add_argument("--runs", type=int, default=5, help="alternating runs per command")
    parser.add_argument("--small", action="store_true", help="2,000 modules, 2 runs (CI)")
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/pyenvdoctor-bench"))
    args = parser.parse_args(argv)
    if args.small:
        args.modules, args.runs = 2_000, 2
    root = (
        Path(args.root)
        if args.root
        else build_tree(Path(args.cache_dir) / f"tree-{args.modules}", args.modules)
    )
    find = "find -name '*.pyc'"
    commands = {
        find: ["find", str(root), "-name", "*.pyc"],
        "compileall -q": [sys.executable, "-m", "compileall", "-q", str(root)],
        "minimal scan": [sys.executable, "-c", MINIMAL, str(root)],
        "pyenvdoctor scan": [sys.executable, "-c", SCAN, str(root)],
        "scan, 2 workers": [sys.executable, "-c", FORKED, str(root)],
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    peaks: dict[str, int] = dict.fromkeys(commands, 0)
    for cmd in commands.values():  # warm the page cache once
        measure(cmd)
    for _ in range(args.runs):
        for name, cmd in commands.items():
            t, peak = measure(cmd)
            times[name].append(t)
            peaks[name] = max(peaks[name], peak)
    pycs = sum(1 for _ in root.rglob("*.pyc"))
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"tree: {root} ({pycs:,} .pyc files), {args.runs} runs each, warm cache, medians")
    med = {k: statistics.median(v) for k, v in times.items()}
    for name in commands:
        print(f"  {name:<20} {med[name]:7.3f} s   peak {peaks[name] / 2**20:6.1f} MiB")
    scan = med["pyenvdoctor scan"]
    print(f"ratio scan / minimal scan: {scan / med['minimal scan']:.2f}x (target <= 1.2x)")
    print(f"ratio scan / compileall -q: {scan / med['compileall -q']:.2f}x (target <= 0.4x)")
    print(f"ratio scan / find: {scan / med[find]:.2f}x")
    forked = med["scan, 2 workers"]
    print(
        f"ratio scan with 2 workers (as the report runs it) / compileall -q: "
        f"{forked / med['compileall -q']:.2f}x (target <= 0.4x)"
    )
    print(f"scan peak memory: {peaks['pyenvdoctor scan'] / 2**20:.1f} MiB (target < 60 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
