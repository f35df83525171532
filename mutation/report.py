"""Summarise the last ``mutmut run``: kill rate over non-equivalent mutants, and the survivors.

Equivalent mutants (a change no test can observe, because behaviour does not change) are listed
in mutation/equivalent.txt, one per line as ``mutant-name  reason``; they do not count against
the kill rate. Exits 1 below the target, so a drop is noticed when someone runs it.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

TARGET = 90.0
HERE = Path(__file__).resolve().parent
KILLED = {"killed", "timeout"}


def equivalent_mutants(path: Path = HERE / "equivalent.txt") -> dict[str, str]:
    listed: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            listed[name] = reason.strip()
    return listed


def statuses(mutmut: str) -> dict[str, str]:
    output = subprocess.run(  # noqa: S603 - our own venv's mutmut, fixed arguments
        [mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True
    )
    found: dict[str, str] = {}
    for line in output.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep:
            found[name] = status
    return found


def main() -> int:
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    found = statuses(mutmut)
    if not found:
        print("No mutation results: run `make mutants` (mutmut run) first.")
        return 1
    equivalent = equivalent_mutants()
    counts = Counter(found.values())
    # A stopped (time-bounded) run leaves mutants "not checked": they are reported, not rated.
    unrated = {"skipped", "not checked"}
    considered = {n: s for n, s in found.items() if s not in unrated and not (n in equivalent and s not in KILLED)}
    killed = sum(1 for s in considered.values() if s in KILLED)
    rate = 100.0 * killed / len(considered) if considered else 0.0
    survivors = sorted(n for n, s in considered.items() if s not in KILLED)
    stale = sorted(n for n in equivalent if found.get(n) in KILLED or n not in found)
    print(f"mutants: {len(found)} ({', '.join(f'{s} {c}' for s, c in sorted(counts.items()))})")
    equivalent_count = len(found) - len(considered) - sum(counts.get(status, 0) for status in unrated)
    print(f"equivalent (mutation/equivalent.txt): {equivalent_count}")
    if counts.get("not checked"):
        print(f"not checked (the run was stopped before them): {counts['not checked']}")
    print(f"kill rate: {killed}/{len(considered)} = {rate:.1f} % of non-equivalent mutants (target {TARGET:.0f} %)")
    for name in survivors:
        print(f"  survivor [{found[name]}]: {name}   (mutmut show {name})")
    for name in stale:
        print(f"  listed as equivalent but killed or gone: {name}")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
