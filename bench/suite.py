"""How long the test suite takes: this checkout beside another, run in turns.

    python bench/suite.py [--repo PATH] [--rounds 2] [--files 25] [-- PYTEST ARGS]

Runs each checkout's own `scripts/test` (ruff, then pytest on two workers), this one's and,
with --repo, another's (e.g. `git worktree add /tmp/before 00d7642`, with a `.venv` of its
own or a link to this one's), one after the other, `--rounds` times, so that both see the
same load. Prints for each run its wall time, the CPU seconds it used (its processes and
their children: workers, bots started as processes, PostgreSQL), the load average before it
and the tests that failed, then the slowest files (setup, call and teardown of their tests,
summed, from pytest's JUnit XML) of each checkout's fastest run side by side. Arguments
after `--` go to pytest (e.g. `-- tests/test_flow.py` for one file, not the whole suite).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def run(repo: Path, pytest_args: list[str]) -> tuple[float, float, float, dict[str, float]]:
    """One run of the suite in `repo`: wall seconds, CPU seconds, the 1-minute load average
    before it, and each file's seconds."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.monotonic()
        done = subprocess.run(
            ["scripts/test", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *pytest_args],
            cwd=repo,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode not in (0, 1):  # 1: a test failed, still timed
            sys.exit(f"scripts/test in {repo} ended with {done.returncode}:\n{done.stdout[-3000:]}")
        summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        print(f"  {repo}: {summary}", flush=True)
        for line in done.stdout.splitlines():
            if line.startswith(("FAILED", "ERROR")):
                print(f"    {line}", flush=True)
        files: dict[str, float] = defaultdict(float)
        for case in ET.parse(report).iter("testcase"):
            path = case.get("classname", "").split(".")
            name = "/".join(p for p in path if not p[:1].isupper()) + ".py"
            files[name] += float(case.get("time", "0"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, load, files


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    pytest_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, pytest_args = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, help="another checkout, run in turn with this one")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--files", type=int, default=25, help="how many of the slowest files")
    args = parser.parse_args(argv)
    repos = {"this": HERE}
    if args.repo:
        repos = {"other": args.repo.resolve(), **repos}
    best: dict[str, tuple[float, dict[str, float]]] = {}
    for number in range(1, args.rounds + 1):
        for name, repo in repos.items():
            wall, cpu, load, files = run(repo, pytest_args)
            print(
                f"round {number} {name}: wall {wall:.1f} s, cpu {cpu:.1f} s, load {load:.2f}",
                flush=True,
            )
            if name not in best or wall < best[name][0]:
                best[name] = (wall, files)
    for name, (wall, _) in best.items():
        print(f"{name}_best_wall_seconds: {wall:.1f}", flush=True)
    names = list(best)
    slowest = sorted(best[names[-1]][1].items(), key=lambda item: -item[1])[: args.files]
    order = [file for file, _ in slowest]
    if len(names) == 2:
        first = best[names[0]][1]
        order = sorted(
            set(order) | set(sorted(first, key=lambda f: -first[f])[: args.files]),
            key=lambda f: -max(first.get(f, 0.0), best[names[1]][1].get(f, 0.0)),
        )
    print("file: " + " / ".join(names) + " (seconds of its tests, summed)", flush=True)
    for file in order:
        seconds = " / ".join(f"{best[n][1].get(file, 0.0):.1f}" for n in names)
        print(f"{file}: {seconds}", flush=True)


if __name__ == "__main__":
    main()
