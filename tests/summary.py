#!/usr/bin/env python3
"""tests/run's last words: a summary line per tier (unit, integration, engines, VM), the reason
of every skip, the other checks, and one final line in pytest's form that CI reads.

  tests/summary.py BUILD_DIR SECONDS CHECK=ok|failed...

Reads BUILD_DIR/unit.log (meson's summary), BUILD_DIR/pytest.xml (pytest's junit XML of the
integration and engine suites, the VM tier among them) and BUILD_DIR/vm-guests.log (a line per
guest that the VM tier booted: which test files, and the guest's pytest summary)."""

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def unit_counts(log):
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    skips = []
    if not log.exists():
        return None, skips
    text = log.read_text(errors="replace")
    for key, name in (("Ok", "passed"), ("Expected Fail", "passed"), ("Fail", "failed"),
                      ("Unexpected Pass", "failed"), ("Timeout", "failed"),
                      ("Skipped", "skipped")):
        m = re.search(r"^%s:\s+(\d+)" % re.escape(key), text, re.M)
        if m:
            counts[name] += int(m.group(1))
    for m in re.finditer(r"^\s*\d+/\d+\s+(\S+)\s+SKIP\b.*$", text, re.M):
        skips.append((m.group(1), "skipped by the test (exit 77)"))
    return counts, skips


def tier_of(case):
    where = case.get("classname", "") + "." + case.get("name", "")
    if "test_vm_tier" in where:
        return "VM"
    if where.startswith("tests.engines") or ".engines." in where:
        return "engines"
    return "integration"


def pytest_counts(xml):
    tiers = {t: {"passed": 0, "failed": 0, "skipped": 0} for t in ("integration", "engines", "VM")}
    skips = {t: [] for t in tiers}
    if not xml.exists():
        return None, skips
    for case in ET.parse(xml).getroot().iter("testcase"):
        t = tier_of(case)
        test = case.get("classname", "").split(".")[-1] + "::" + case.get("name", "")
        if case.find("failure") is not None or case.find("error") is not None:
            tiers[t]["failed"] += 1
        elif case.find("skipped") is not None:
            tiers[t]["skipped"] += 1
            s = case.find("skipped")
            skips[t].append((test, (s.get("message") or "").strip() or "no reason given"))
        else:
            tiers[t]["passed"] += 1
    return tiers, skips


def guests(log):
    """The guests' own counts: (files, summary) per guest."""
    out = []
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            files, summary, *skips = line.split("\t") + [""]
            out.append((files, summary, [s for s in skips if s]))
    return out


def fmt(c):
    return f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped"


def main():
    build, seconds, checks = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    total = {"passed": 0, "failed": 0, "skipped": 0}
    unit, unit_skips = unit_counts(build / "unit.log")
    tiers, skips = pytest_counts(build / "pytest.xml")
    print("== summary")
    if unit is None:
        print("tier unit: not run (the build failed)")
        total["failed"] += 1
    else:
        print(f"tier unit: {fmt(unit)}")
        for k in total:
            total[k] += unit[k]
        for test, why in unit_skips:
            print(f"  skipped {test}: {why}")
    if tiers is None:
        print("tiers integration, engines, VM: not run (no pytest report)")
        total["failed"] += 1
    else:
        for t in ("integration", "engines", "VM"):
            line = f"tier {t}: {fmt(tiers[t])}"
            if t == "VM":
                inside = guests(build / "vm-guests.log")
                n = {"passed": 0, "failed": 0, "skipped": 0}
                for _, summary, _ in inside:
                    for k in n:
                        m = re.search(r"(\d+) %s" % k, summary)
                        n[k] += int(m.group(1)) if m else 0
                    m = re.search(r"(\d+) errors?\b", summary)  # a fixture's error fails too
                    n["failed"] += int(m.group(1)) if m else 0
                if inside:
                    line += f" (the host's tests; inside {len(inside)} guests: {fmt(n)})"
            print(line)
            for k in total:
                total[k] += tiers[t][k]
            for test, why in skips[t]:
                print(f"  skipped {test}: {why}")
            if t == "VM":
                for files, _, guest_skips in guests(build / "vm-guests.log"):
                    for s in guest_skips:
                        print(f"  skipped in the guest of {files}: {s}")
    failed_checks = [c.split("=")[0] for c in checks if c.endswith("=failed")]
    print("checks: " + ", ".join(c.replace("=", " ") for c in checks))
    total["failed"] += len(failed_checks)
    print(f"== {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped "
          f"in {seconds:.0f}s (all tiers{'; failed checks: ' + ', '.join(failed_checks) if failed_checks else ''}) ==")
    return 0


if __name__ == "__main__":
    sys.exit(main())
