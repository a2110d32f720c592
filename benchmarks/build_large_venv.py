"""Build (once) a large real virtual environment to benchmark the bytecode scan on.

Creates ``<cache-dir>/large-venv`` with ``python -m venv``, installs the pinned closure in
``benchmarks/large_venv.txt`` (``pip install --no-deps --only-binary :all:``), checks it with
``pip check``, byte-compiles it with the venv's python (``compileall -q -j0``, with
PYTHONDONTWRITEBYTECODE removed from the environment) and writes a marker holding the
requirements' hash, so a second run does nothing until the list changes. Then prints the
venv's site-packages, the distribution, .py and .pyc counts and the size; ``--bench`` also
runs ``benchmarks/bench_bytecode.py --root <site-packages>``.

    .venv/bin/python benchmarks/build_large_venv.py            # build, print the counts
    .venv/bin/python benchmarks/build_large_venv.py --bench    # ... then run the benchmark
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "large_venv.txt"
BENCH = HERE / "bench_bytecode.py"
MARKER = ".pyenvdoctor-bench-complete"


def clean_env() -> dict[str, str]:
    """This environment without PYTHONDONTWRITEBYTECODE (pip and compileall write pycs)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def venv_python(venv: Path) -> Path:
    """The venv's interpreter."""
    return venv / "bin" / "python"


def build(venv: Path, requirements: Path, python: str) -> None:
    """Build ``venv`` from ``requirements`` unless its marker matches the list's hash."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    marker = venv / MARKER
    if marker.exists() and marker.read_text().strip() == digest:
        return
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    env = clean_env()
    py = str(venv_python(venv))
    steps = [
        [python, "-m", "venv", str(venv)],
        [py, "-m", "pip", "install", "--no-deps", "--only-binary", ":all:"]
        + ["--no-input", "--progress-bar", "off", "-q", "-r", str(requirements)],
        [py, "-m", "pip", "check"],
        [py, "-m", "compileall", "-q", "-j0", str(venv / "lib")],
    ]
    for cmd in steps:
        print("+", " ".join(cmd), flush=True)
        # compileall exits 1 on sources that do not compile (shipped test data): not fatal.
        rc = subprocess.run(cmd, env=env, check=False).returncode
        if rc != 0 and cmd[2] != "compileall":
            raise SystemExit(f"failed ({rc}): {' '.join(cmd)}")
    marker.write_text(digest + "\n")


def site_packages(venv: Path) -> Path:
    """The venv's purelib directory, as its own interpreter reports it."""
    out = subprocess.run(
        [str(venv_python(venv)), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def stats(root: Path) -> tuple[int, int, int, int]:
    """Files, .py files, .pyc files and bytes (``lstat`` sizes) under ``root``."""
    files = py = pyc = size = 0
    for d, _dirs, names in os.walk(root):
        for name in names:
            files += 1
            py += name.endswith(".py")
            pyc += name.endswith(".pyc")
            size += os.lstat(os.path.join(d, name)).st_size
    return files, py, pyc, size


def main(argv: list[str] | None = None) -> int:
    """Build the venv if needed, print its counts, optionally run the benchmark on it."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/pyenvdoctor-bench"))
    parser.add_argument("--requirements", default=str(REQUIREMENTS), help="pinned list")
    parser.add_argument("--python", default=sys.executable, help="interpreter to create it")
    parser.add_argument("--bench", action="store_true", help="then run bench_bytecode.py")
    parser.add_argument("--runs", type=int, default=5, help="runs for --bench")
    args = parser.parse_args(argv)
    venv = Path(args.cache_dir).expanduser() / "large-venv"
    build(venv, Path(args.requirements), args.python)
    sp = site_packages(venv)
    dists = sum(1 for p in sp.iterdir() if p.name.endswith(".dist-info"))
    files, py, pyc, size = stats(sp)
    vfiles, _, _, vsize = stats(venv)
    print(f"venv: {venv} ({vfiles:,} files, {vsize:,} bytes = {vsize / 2**30:.2f} GiB)")
    print(f"site-packages: {sp}")
    print(f"distributions: {dists:,}")
    print(f"files: {files:,}, .py: {py:,}, .pyc: {pyc:,}")
    print(f"size: {size:,} bytes = {size / 2**30:.2f} GiB")
    sys.stdout.flush()
    if args.bench:
        cmd = [sys.executable, str(BENCH), "--root", str(sp), "--runs", str(args.runs)]
        print("+", " ".join(cmd), flush=True)
        return subprocess.run(cmd, check=False).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
