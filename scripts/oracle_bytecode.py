"""Run the bytecode oracle (issue 13): ``--seed S --cases N [--python PATH ...]``.

Cases are spread round-robin over the interpreters (default: the pyenv 3.8-3.13 ones and
/usr/bin/python3 that exist). Prints every disagreement with its case, then per interpreter
the cases, pycs compared and disagreements; exits 1 when there is any disagreement.
"""

from __future__ import annotations

import argparse
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests"))

from oracle.bytecode import default_pythons, make_case, run_case, target_of


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--modules", type=int, default=15, help="modules per tree")
    parser.add_argument("--python", action="append", default=None)
    parser.add_argument(
        "--coverage", action="store_true", help="also print (condition, CPython verdict) counts"
    )
    args = parser.parse_args(argv)
    pythons = args.python or default_pythons()
    if not pythons:
        print("no interpreter found", file=sys.stderr)
        return 2
    targets = {p: target_of(p) for p in pythons}
    stats = {p: [0, 0, 0] for p in pythons}
    rng = random.Random(args.seed)
    coverage: dict[tuple[str, str], int] | None = {} if args.coverage else None
    for i in range(args.cases):
        py = pythons[i % len(pythons)]
        case = make_case(args.seed, i, py, rng, args.modules)
        n, dis = run_case(case, targets[py], rng, coverage)
        stats[py][0] += 1
        stats[py][1] += n
        stats[py][2] += len(dis)
        for d in dis:
            print(d)
    for (what, verdict), count in sorted((coverage or {}).items()):
        print(f"coverage: {what:28} {verdict:22} {count}")
    for py, (cases, pycs, bad) in stats.items():
        print(f"{py}: {cases} cases, {pycs} pycs, {bad} disagreements")
    return 1 if any(s[2] for s in stats.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
