"""``make stress``: the system tests N times under a CPU hog; failures per test.

Not part of ``make test``. Each round runs ``pytest test/`` while ``--hogs`` busy processes
load the cores, writes a JUnit report per round under ``--out``, and at the end prints one line
per test that failed at least once (failures / rounds), or that none did.

    python scripts/stress.py --rounds 5 --hogs 2 [-- -k deploy]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path


def _burn() -> None:  # a busy loop: one core's worth of load
    while True:
        pass


def _failures(report: Path) -> list[str]:
    """Test ids that failed or errored in one JUnit report."""
    out = []
    for case in ET.parse(report).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            out.append(f"{case.get('classname')}::{case.get('name')}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of the system tests")
    parser.add_argument("--hogs", type=int, default=1, help="busy processes during each run")
    parser.add_argument("--out", default="log/stress", help="folder for the JUnit reports")
    parser.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed: Counter[str] = Counter()
    for r in range(args.rounds):
        hogs = [mp.Process(target=_burn, daemon=True) for _ in range(args.hogs)]
        for h in hogs:
            h.start()
        report = out / f"round{r}.xml"
        start = time.monotonic()
        try:
            cmd = [sys.executable, "-m", "pytest", "test", "-q", "-p", "no:cacheprovider"]
            subprocess.run([*cmd, f"--junitxml={report}", *args.pytest_args], check=False)
        finally:
            for h in hogs:
                h.terminate()
        names = _failures(report) if report.exists() else ["(no report: pytest crashed)"]
        failed.update(names)
        print(
            f"[stress] round {r + 1}/{args.rounds}: {len(names)} failed "
            f"({time.monotonic() - start:.0f} s, {args.hogs} hog(s))",
            flush=True,
        )
    print(f"[stress] {args.rounds} rounds with {args.hogs} hog(s):")
    for name, n in failed.most_common():
        print(f"  {n}/{args.rounds}  {name}")
    if not failed:
        print("  no test failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
