#!/usr/bin/env python3
"""Proves the recommended clippy.toml next to this file.

Runs `cargo clippy` on this fixture crate (outside the workspace) and checks:

1. src/bin/forbidden.rs: clippy flags exactly the lines marked
   `// lint: <lint> <path>`, with that lint and path, each carrying the reason the
   config gives for the path; every entry of the config is exercised.
2. src/bin/clean.rs and src/bin/shared_std.rs: no diagnostic at all (which also
   means the config itself raised no warning, such as a path that resolves to
   nothing).
3. The optional block (std maps in shared state), switched on in a copy of the
   config: src/bin/shared_std.rs is flagged exactly on its marked lines.

Exit status 0 when all hold; otherwise each failure is printed and the status is 1.
Needs Python 3.11+ (tomllib) and cargo with clippy. CARGO_TARGET_DIR is honoured
(default: the workspace's target/lint-check).
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    sys.exit("check.py needs Python 3.11 or newer (for tomllib)")

HERE = pathlib.Path(__file__).resolve().parent
CONFIG = HERE / "clippy.toml"
MARK = re.compile(r"// lint: (disallowed_types|disallowed_methods) (\S+)")
OPTIONAL = re.compile(r"# BEGIN optional.*?# END optional", re.S)
LISTS = {"disallowed_types": "disallowed-types", "disallowed_methods": "disallowed-methods"}

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}")


def reasons(config_text):
    """{(lint, path): reason} for every entry of the config."""
    conf = tomllib.loads(config_text)
    out = {}
    for lint, key in LISTS.items():
        for entry in conf.get(key, []):
            out[(lint, entry["path"])] = entry["reason"]
    return out


def with_optional(config_text):
    """The config with its optional block's entries uncommented."""
    block = OPTIONAL.search(config_text)
    if not block:
        fail("clippy.toml has no '# BEGIN optional ... # END optional' block")
        return config_text
    lines = []
    for line in block.group(0).splitlines():
        stripped = line.lstrip()
        if stripped.startswith("# {"):
            indent = line[: len(line) - len(stripped)]
            line = indent + stripped[2:]
        lines.append(line)
    return config_text[: block.start()] + "\n".join(lines) + config_text[block.end() :]


def marked(bin_name):
    """{(line, lint, path)} from the markers in src/bin/<bin_name>.rs."""
    src = (HERE / "src" / "bin" / f"{bin_name}.rs").read_text()
    out = set()
    for n, line in enumerate(src.splitlines(), start=1):
        m = MARK.search(line)
        if m:
            out.add((n, m.group(1), m.group(2)))
    return out


def clippy(bin_name, conf_dir):
    """Every diagnostic clippy gives on one binary, with `conf_dir`'s clippy.toml."""
    target = os.environ.get("CARGO_TARGET_DIR", str(HERE.parent.parent / "target" / "lint-check"))
    env = dict(os.environ, CLIPPY_CONF_DIR=str(conf_dir), CARGO_TARGET_DIR=target)
    # Clippy reruns when the config changes (it tracks the file and the variable),
    # but touching the source makes sure no cached result is replayed.
    (HERE / "src" / "bin" / f"{bin_name}.rs").touch()
    run = subprocess.run(
        ["cargo", "clippy", "--locked", "--quiet", "--message-format=json", "--bin", bin_name],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
    )
    diags = []
    for line in run.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") != "compiler-message":
            continue
        d = msg["message"]
        if not d["spans"] and re.fullmatch(r"\d+ warnings? emitted", d["message"]):
            continue
        primary = next((s for s in d["spans"] if s["is_primary"]), None)
        code = (d.get("code") or {}).get("code") or ""
        path = re.search(r"`([^`]+)`", d["message"])
        notes = [c["message"] for c in d["children"] if c["level"] == "note"]
        diags.append(
            {
                "file": primary["file_name"] if primary else None,
                "line": primary["line_start"] if primary else None,
                "lint": code.removeprefix("clippy::"),
                "path": path.group(1) if path else None,
                "notes": notes,
                "rendered": d.get("rendered") or d["message"],
            }
        )
    if run.returncode != 0:
        fail(f"cargo clippy --bin {bin_name} failed ({run.returncode}):\n{run.stderr}")
    return diags


def expect_exactly(bin_name, conf_dir, config_reasons):
    """The marked lines, and only those, flagged with the config's reasons."""
    want = marked(bin_name)
    diags = clippy(bin_name, conf_dir)
    got = set()
    for d in diags:
        key = (d["line"], d["lint"], d["path"])
        if key not in want:
            fail(f"{bin_name}: unexpected diagnostic:\n{d['rendered']}")
            continue
        got.add(key)
        reason = config_reasons.get((d["lint"], d["path"]))
        if reason is None or reason not in d["notes"]:
            fail(f"{bin_name}:{d['line']}: {d['path']} flagged without its reason {reason!r}: {d['notes']}")
    for line, lint, path in sorted(want - got):
        fail(f"{bin_name}:{line}: expected {lint} on {path}, clippy said nothing")
    print(f"{bin_name}: {len(got)} of {len(want)} expected lints, each with its reason")
    return got


def expect_none(bin_name, conf_dir):
    diags = clippy(bin_name, conf_dir)
    for d in diags:
        fail(f"{bin_name}: must be clean, got:\n{d['rendered']}")
    if not diags:
        print(f"{bin_name}: clean")


def main():
    text = CONFIG.read_text()
    default = reasons(text)
    got = expect_exactly("forbidden", HERE, default)
    for lint, path in sorted(set(default) - {(l, p) for _, l, p in got}):
        fail(f"config entry {path} ({lint}) is never exercised by forbidden.rs")
    expect_none("clean", HERE)
    expect_none("shared_std", HERE)

    optional_text = with_optional(text)
    optional = reasons(optional_text)
    if len(optional) <= len(default):
        fail("the optional block added no entry")
    with tempfile.TemporaryDirectory() as tmp:
        (pathlib.Path(tmp) / "clippy.toml").write_text(optional_text)
        got = expect_exactly("shared_std", tmp, optional)
        for lint, path in sorted(set(optional) - set(default) - {(l, p) for _, l, p in got}):
            fail(f"optional entry {path} ({lint}) is never exercised by shared_std.rs")
        expect_none("clean", tmp)

    if failures:
        print(f"lint-check: {len(failures)} failure(s)")
        return 1
    print("lint-check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
