"""Benchmark: the whole ``pyenvdoctor report`` against the tools it replaces, in one run.

Builds once, cached outside the repository (``--cache-dir``, default ``~/.cache/pyenvdoctor-bench``):

* the pinned real venv of ``benchmarks/large_venv.txt`` (``build_large_venv.py``);
* a pip cache of ``--cache-files`` files (real bytes, random sizes);
* a generated tree of ``--tree-files`` modules with valid pycs (1,000,000 for the full run).

Then runs, alternating, ``--runs`` times each (warm page cache) and prints medians and ratios:
``pyenvdoctor report --format json`` vs ``pip list``, ``pip inspect``, ``pip check`` and
``compileall -q`` of site-packages; the report's bytecode scan alone as the report runs it
(two forked workers, ``bench_bytecode.py``'s command) vs ``compileall -q``; ``pyenvdoctor which json`` and ``pyenvdoctor --help`` vs
``python -m pip --version``; with ``--cold`` (root only: drops the page cache before each run)
the report vs a minimal single-threaded program that reads every distribution's metadata,
checks every pyc header against its source and walks the pip cache; and the peak memory of a
scan of the generated tree at 10% and 100% of its size (it must not grow with the file count).
Asserts nothing: the numbers are for the README. ``--small`` is the few-second version CI runs.

    .venv/bin/python benchmarks/bench_report.py            # full: about 10 minutes the first time
    .venv/bin/python benchmarks/bench_report.py --cold     # also cold-cache ratios (needs root)
"""

from __future__ import annotations

import argparse
import importlib.util
import marshal
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_bytecode import FORKED  # noqa: E402 - the same scan command as bench_bytecode.py

#: Runs the command and prints its wall time (without this wrapper's own start-up) and the
#: peak RSS of its largest process.
PEAK = (
    "import resource, subprocess, sys, time; "
    "t = time.perf_counter(); "
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "t = time.perf_counter() - t; "
    "print(t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)"
)
MINIMAL = """\
import os, sys
site, cache = sys.argv[1], sys.argv[2]
for name in os.listdir(site):
    if name.endswith(".dist-info"):
        try:
            open(os.path.join(site, name, "METADATA"), "rb").read()
        except OSError:
            pass
for d, _, files in os.walk(site):
    if os.path.basename(d) == "__pycache__":
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                fh.read(16)
            try:
                os.stat(os.path.join(os.path.dirname(d), f.split(".")[0] + ".py"))
            except OSError:
                pass
for d, _, files in os.walk(cache):
    for f in files:
        os.stat(os.path.join(d, f))
"""
SCAN = """\
import sys, importlib.util, importlib.machinery
from pyenvdoctor.collect.bytecode import BytecodeTarget, ScanRoot, scan_bytecode
from pyenvdoctor.model import LocationClass
t = BytecodeTarget(executable=sys.executable, version_info=sys.version_info[:2],
    cache_tag=sys.implementation.cache_tag, magic_number=importlib.util.MAGIC_NUMBER,
    check_hash_based_pycs="default")
print(scan_bytecode([ScanRoot(path=sys.argv[1], location=LocationClass.OTHER)], t).scanned_files)
"""


def _env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV")
    }


def build_pip_cache(root: Path, files: int) -> Path:
    """``files`` files of 1-200 KiB under ``http-v2`` and ``wheels`` (real bytes)."""
    marker = root / f".complete-{files}"
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(42)
    for i in range(files):
        sub = root / ("wheels" if i % 10 == 0 else "http-v2") / f"{i % 97:02x}" / f"{i % 89:02x}"
        sub.mkdir(parents=True, exist_ok=True)
        name = f"pkg{i}-1.0-py3-none-any.whl" if i % 10 == 0 else f"{i:08x}.body"
        (sub / name).write_bytes(os.urandom(rng.randint(1, 200) * 1024))
    marker.write_text("")
    return root


def build_tree(root: Path, files: int) -> Path:
    """``files`` modules in directories of 100, each with a valid timestamp pyc (written
    directly: one compiled body, headers from each source's stat), so 1,000,000 build fast."""
    marker = root / f".complete-{files}"
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    source = b"VALUE = 1\n"
    body = marshal.dumps(compile(source, "m.py", "exec"))
    magic = importlib.util.MAGIC_NUMBER
    tag = sys.implementation.cache_tag
    for i in range(files):
        d = root / f"d{i // 100_000:02d}" / f"p{i // 100:05d}"
        if i % 100 == 0:
            (d / "__pycache__").mkdir(parents=True)
        src = d / f"m{i % 100:02d}.py"
        src.write_bytes(source)
        st = src.stat()
        header = (
            magic
            + (0).to_bytes(4, "little")
            + (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
        )
        header += (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
        (d / "__pycache__" / f"m{i % 100:02d}.{tag}.pyc").write_bytes(header + body)
    marker.write_text("")
    return root


def measure(
    cmd: list[str], env: dict[str, str], workdir: Path, cold: bool = False
) -> tuple[float, int]:
    """Wall seconds and peak RSS in bytes (largest process of the command's tree). Commands
    run in ``workdir``, an empty directory: no project and no virtual environment beside
    them, so that what is measured is the environment, not where the benchmark started."""
    if cold:
        subprocess.run(["sync"], check=False)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", PEAK, *cmd],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=workdir,
    )
    seconds, peak = proc.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(peak) * 1024


def run_all(
    commands: dict[str, list[str]],
    env: dict[str, str],
    runs: int,
    *,
    workdir: Path,
    cold: bool = False,
) -> dict[str, tuple[float, int]]:
    """Median seconds and max peak bytes per command, alternating the commands each round."""
    times: dict[str, list[float]] = {k: [] for k in commands}
    peaks: dict[str, int] = dict.fromkeys(commands, 0)
    if not cold:
        for cmd in commands.values():
            measure(cmd, env, workdir)  # warm the page cache
    for _ in range(runs):
        for name, cmd in commands.items():
            t, peak = measure(cmd, env, workdir, cold)
            times[name].append(t)
            peaks[name] = max(peaks[name], peak)
    return {k: (statistics.median(v), peaks[k]) for k, v in times.items()}


def show(
    title: str, results: dict[str, tuple[float, int]], ratios: list[tuple[str, str, str]]
) -> None:
    print(title)
    for name, (t, peak) in results.items():
        print(f"  {name:<28} {t:7.3f} s   peak {peak / 2**20:6.1f} MiB")
    for a, b, target in ratios:
        print(f"  ratio {a} / {b}: {results[a][0] / results[b][0]:.2f}x ({target})")


def main(argv: list[str] | None = None) -> int:
    """Build what is missing, run everything, print medians and ratios."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/pyenvdoctor-bench"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache-files", type=int, default=3914)
    parser.add_argument("--tree-files", type=int, default=1_000_000)
    parser.add_argument("--cold", action="store_true", help="also cold page cache runs (root)")
    parser.add_argument("--small", action="store_true", help="CI: a fresh small venv, small tree")
    args = parser.parse_args(argv)
    cache = Path(args.cache_dir)
    workdir = cache / "workdir"
    env = _env()
    if args.small:
        args.runs, args.cache_files, args.tree_files = 1, 50, 2_000
        venv = cache / "small-venv"
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    else:
        subprocess.run(
            [sys.executable, str(HERE / "build_large_venv.py"), "--cache-dir", str(cache)],
            check=True,
        )
        venv = cache / "large-venv"
    py = str(venv / "bin" / "python")
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    pip_cache = build_pip_cache(cache / f"pip-cache-{args.cache_files}", args.cache_files)
    tree = build_tree(cache / f"tree-{args.tree_files}", args.tree_files)
    env["PIP_CACHE_DIR"] = str(pip_cache)
    doctor = [sys.executable, "-m", "pyenvdoctor"]
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"venv: {venv} ({len([n for n in os.listdir(site) if n.endswith('.dist-info')])} distributions); "
        f"pip cache: {args.cache_files} files; {args.runs} runs each, medians"
    )
    warm = run_all(
        {
            "pyenvdoctor report": [*doctor, "report", "--python", py, "--format", "json"],
            "pip list": [py, "-m", "pip", "list"],
            "pip inspect": [py, "-m", "pip", "inspect"],
            "pip check": [py, "-m", "pip", "check"],
            "compileall -q site-packages": [py, "-m", "compileall", "-q", site],
            "pyenvdoctor which json": [*doctor, "which", "json", "--python", py],
            "pyenvdoctor --help": [*doctor, "--help"],
            "pip --version": [py, "-m", "pip", "--version"],
            # The report's bytecode scan alone, as the report runs it (two forked workers).
            "scan, 2 workers": [sys.executable, "-c", FORKED, site],
        },
        env,
        args.runs,
        workdir=workdir,
    )
    show(
        "warm page cache:",
        warm,
        [
            ("pyenvdoctor report", "pip inspect", "target <= 0.6x (issues 7, 13)"),
            ("scan, 2 workers", "compileall -q site-packages", "target <= 0.4x (issues 3, 13)"),
            ("pyenvdoctor report", "compileall -q site-packages", "target <= 0.7x (issue 7)"),
            ("pyenvdoctor report", "pip list", "for reference"),
            ("pyenvdoctor which json", "pip --version", "target <= 2x"),
            ("pyenvdoctor --help", "pip --version", "target <= 2x"),
        ],
    )
    if args.cold:
        cold = run_all(
            {
                "pyenvdoctor report": [*doctor, "report", "--python", py, "--format", "json"],
                "minimal program": [py, "-c", MINIMAL, site, str(pip_cache)],
            },
            env,
            args.runs,
            workdir=workdir,
            cold=True,
        )
        show(
            "cold page cache (dropped before each run):",
            cold,
            [("pyenvdoctor report", "minimal program", "target <= 0.8x")],
        )
    tenth = Path(tree, "d00")
    scans = run_all(
        {
            f"scan {args.tree_files // 10 if args.tree_files >= 100_000 else args.tree_files:,} files": [
                sys.executable,
                "-c",
                SCAN,
                str(tenth if args.tree_files >= 100_000 else tree),
            ],
            f"scan {args.tree_files:,} files": [sys.executable, "-c", SCAN, str(tree)],
        },
        env,
        1,
        workdir=workdir,
    )
    show("generated tree (memory must not grow with the file count):", scans, [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
