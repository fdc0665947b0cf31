"""A/B of `hulian psi` between two commits: runs alternate (old, new, old, new, ...) on the same files so that
drift of the machine hits both alike; prints each run and the medians. For restructurings that must not cost
speed (issue 13: 1M x 1M within 5 %).

Run alone (nothing else on the cores):
    .venv/bin/python bench/psi_ab.py --old 0a66d70 [--runs 3] [--size 1M] [--curve curve25519]
The old commit is checked out as a git worktree under .bench/ab-<rev>; both run with this venv.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
from pathlib import Path

import machine  # bench/machine.py, beside this script
from psi import DATA, SIZES, dataset, hulian_pair

ROOT = Path(__file__).resolve().parent.parent


def worktree(rev: str) -> Path:
    path = ROOT / ".bench" / f"ab-{rev}"
    if not path.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev], check=True,
                       capture_output=True)
    return path


def one_run(tree: Path, a: Path, b: Path, curve: str, expected: int) -> float:
    """Wall seconds of one two-party run with `tree`'s hulian on the import path."""
    os.environ["PYTHONPATH"] = str(tree)
    res = hulian_pair(a, b, curve, "auto", DATA / "out", 3600)
    got = [r["report"]["intersection_items"] for r in res]
    if got != [expected, expected]:
        raise SystemExit(f"{tree}: intersection {got} != {expected}")
    return max(r["seconds"] for r in res)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="the commit to compare against")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", default="1M", choices=sorted(SIZES))
    ap.add_argument("--curve", default="curve25519")
    args = ap.parse_args()
    trees = {"old": worktree(args.old), "new": ROOT}
    a, b, expected = dataset(SIZES[args.size])
    (DATA / "out").mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine.describe()}")
    print(f"{args.size} x {args.size} {args.curve}; old = {args.old}, new = the working tree")
    seconds: dict[str, list[float]] = {"old": [], "new": []}
    for i in range(args.runs):
        for label in ("old", "new"):
            s = one_run(trees[label], a, b, args.curve, expected)
            seconds[label].append(s)
            print(f"  run {i + 1} {label}: {s:.2f} s", flush=True)
    old, new = (statistics.median(seconds[k]) for k in ("old", "new"))
    print(f"median old {old:.2f} s, new {new:.2f} s: new/old = {new / old:.3f}")


if __name__ == "__main__":
    main()
