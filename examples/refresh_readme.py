#!/usr/bin/env python3
"""Refresh the README's sample reports from a real run of the demos.

Run from the repository root after changing a demo:

    python3 examples/refresh_readme.py

Each fenced block in README.md that holds one report (from "==================" to
"==================") is replaced by the block the demos print today with the same
kind, map and accesses (role and op), and the `order-service:` summary line by
today's. `cargo test -p mapguard-examples --test readme` checks the result.
"""
import re
import subprocess
import sys

BAR = "=================="


def run(args):
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return out.stdout, out.stderr


def blocks(text):
    found, cur = [], None
    for line in text.splitlines():
        if line == BAR:
            if cur is None:
                cur = []
            else:
                found.append(cur)
                cur = None
        elif cur is not None:
            cur.append(line)
    return found


def signature(block):
    head = block[0].split(" (scope")[0]
    roles = tuple(l.split(" by thread")[0].strip() for l in block if " by thread" in l)
    return head, roles


def main():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "mapguard-examples"], check=True)
    out, err = run(["target/release/order-service"])
    _, err2 = run(["target/release/reentrant"])
    current = {}
    for b in blocks(err + "\n" + err2):
        current.setdefault(signature(b), b)
    readme = open("README.md").read()
    lines = readme.split("\n")
    i, replaced, missing = 0, 0, []
    while i < len(lines):
        if lines[i] == BAR and i + 1 < len(lines) and lines[i + 1].startswith("mapguard: "):
            end = lines.index(BAR, i + 1)
            sig = signature(lines[i + 1 : end])
            if sig in current:
                lines[i + 1 : end] = current[sig]
                end = i + 1 + len(current[sig])
                replaced += 1
            else:
                missing.append(sig)
            i = end + 1
        else:
            i += 1
    readme = "\n".join(lines)
    summary = next(l for l in out.splitlines() if l.startswith("order-service:"))
    readme = re.sub(r"^order-service: \d+ orders.*$", summary, readme, count=1, flags=re.M)
    open("README.md", "w").write(readme)
    print(f"replaced {replaced} report blocks; summary: {summary}")
    if missing:
        print("not found in today's output:", missing, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
