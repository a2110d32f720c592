"""Benchmark: how long ``--fix`` takes to plan the removal of 100,000 orphaned bytecode files.

Builds (once, in ``--dir``, default a new temporary directory) a project of 100 packages with
1,000 orphaned ``__pycache__/*.pyc`` each, builds the report for the running interpreter from
that directory, then times :func:`pyenvdoctor.fix.plan` alone (the judgement of every file:
roots, stdlib, system locations, owner). Nothing is removed.

    .venv/bin/python benchmarks/bench_fix_plan.py          # issue 15: seconds, not a minute

Measured on the 2-core development machine: 1.1 s for 100,000 planned files (11.5 s before the
roots' and site directories' real paths were resolved once per plan instead of per file).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from pyenvdoctor import fix
from pyenvdoctor.report import build_report


def main() -> None:
    """Build the tree if needed, then print the report and plan times in seconds."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default=None, help="the project directory (reused if present)")
    parser.add_argument("--files", type=int, default=100_000)
    args = parser.parse_args()
    root = args.dir or tempfile.mkdtemp(prefix="pyenvdoctor-plan-")
    tag = sys.implementation.cache_tag
    if not os.path.exists(os.path.join(root, "setup.py")):
        os.makedirs(root, exist_ok=True)
        open(os.path.join(root, "setup.py"), "w").close()
        for d in range(max(args.files // 1000, 1)):
            cache = os.path.join(root, f"pkg{d}", "__pycache__")
            os.makedirs(cache)
            for i in range(min(args.files, 1000)):
                with open(os.path.join(cache, f"m{i}.{tag}.pyc"), "wb") as f:
                    f.write(b"\0" * 16)
    files: list[tuple[object, ...]] = []
    environ = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    start = time.perf_counter()
    report = build_report(
        python=sys.executable,
        environ=environ,
        working_directory=root,
        on_file=lambda *item: files.append(item),
    )
    built = time.perf_counter()
    plan = fix.plan(report, files)  # type: ignore[arg-type]
    planned = time.perf_counter()
    n = sum(len(a.files) for a in plan)
    print(
        f"report {built - start:.1f} s; plan {planned - built:.2f} s for {n} planned files "
        f"({len(files)} judged) in {root}"
    )


if __name__ == "__main__":
    main()
