#!/usr/bin/env python3
"""Run the shell commands of the documentation and compare their output with the docs.

Usage: python3 docs/check_docs.py BIN_DIR [FILE.md ...]
       (ctest runs it as the test `docs`; without FILEs it reads README.md, docs/*.md and
       docs/examples/*.md)

The convention, in the Markdown source (the <!-- --> lines do not show on the rendered page):

  ```sh                    a shell block: its commands are run, in a scratch folder per page
  build/bin/adiff ...      (blocks of one page share it, so a model saved by one block is there
  ```                      for the next); `build/bin/` is the BIN_DIR given, which is also first
                           on PATH, so `nn-train ...` works too. Run by `bash -e -o pipefail`:
                           every command must succeed.
  ```text                  the block right after a shell block (blank lines and check comments
  f     = 3.42...          may sit between) is its expected output, stdout and stderr together,
  ```                      compared line by line (trailing blanks ignored). A line `...` stands
                           for any number of lines.

  <!-- check: skip REASON -->     before a shell block: not run (installs, builds, minutes of
                                  training); listed at the end with REASON.
  <!-- check: vary REGEX -->      before a shell block (one comment per pattern): text matching
                                  the Python regular expression REGEX differs from run to run
                                  (timings); it is blanked out on both sides before comparing.
  <!-- check: exit N -->          before a shell block: the block is expected to stop with exit
                                  status N (its last command fails on purpose).
  <!-- check: run COMMAND -->     before a ```text block that is not preceded by a shell block:
                                  COMMAND, not shown on the page, produces that output (for
                                  output quoted without its command, e.g. part of a program's
                                  report).

Every ```text block must be checked (after a shell block or a `run` comment) or carry a `skip`
comment: an unchecked output is an error. Other blocks (cpp, python, untagged diagrams) are not
run. Exit status: 0 if every block ran as documented, 1 otherwise (each difference is shown).
"""
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")
CHECK = re.compile(r"^<!--\s*check:\s*(\w+)\s*(.*?)\s*-->\s*$")
TIMEOUT = 120  # seconds per block


class Block:
    def __init__(self, path, line, lang, text):
        self.path, self.line, self.lang, self.text = path, line, lang, text
        self.checks = []  # (kind, argument) from the comments right before it
        self.output = None  # the ```text block that follows a shell block

    def where(self):
        return f"{os.path.relpath(self.path, REPO)}:{self.line}"


def parse(path):
    """The fenced blocks of a Markdown file, with the check comments in front of each."""
    blocks, pending, problems = [], [], []
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    between = True  # only blank lines and check comments since the previous block
    while i < len(lines):
        m = FENCE.match(lines[i])
        c = CHECK.match(lines[i].strip())
        if m:
            start, lang, body = i + 1, m.group(1), []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            b = Block(path, start, lang, "\n".join(body))
            b.checks, pending = pending, []
            b.follows = between and blocks and blocks[-1].lang == "sh"
            blocks.append(b)
            between = True
        elif c:
            if c.group(1) not in ("skip", "vary", "exit", "run"):
                problems.append(f"{os.path.relpath(path, REPO)}:{i + 1}: unknown check '{c.group(1)}' "
                                "(skip, vary, exit or run)")
            pending.append((c.group(1), c.group(2)))
        elif lines[i].strip():
            between = False
            if pending:
                problems.append(f"{os.path.relpath(path, REPO)}:{i + 1}: a check comment must stand right "
                                "before its block")
                pending = []
        i += 1
    # pair each ```text with the shell block before it
    for k, b in enumerate(blocks):
        if b.lang == "text" and b.follows and not any(kind == "run" for kind, _ in b.checks):
            blocks[k - 1].output = b
            b.paired = True
    return blocks, problems


def normalise(text, patterns):
    out = []
    for line in text.split("\n"):
        for p in patterns:
            line = re.sub(p, "<varies>", line)
        out.append(line.rstrip())
    while out and not out[-1]:
        out.pop()
    while out and not out[0]:
        out.pop(0)
    return out


def matches(expected, actual):
    """expected may contain lines '...' that stand for any number of lines."""
    def rec(i, j):
        if i == len(expected):
            return j == len(actual)
        if expected[i] == "...":
            return any(rec(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and expected[i] == actual[j] and rec(i + 1, j + 1)
    return rec(0, 0)


def run(script, bindir, cwd):
    script = re.sub(r"(?<![\w/.-])build/bin/", bindir + "/", script)
    env = dict(os.environ)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["DEMO_OUT"] = cwd
    env["AD_REPO"] = REPO
    env.pop("OPENBLAS_NUM_THREADS", None)
    t0 = time.monotonic()
    try:
        p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT)
        return p.returncode, p.stdout.decode("utf-8", "replace"), time.monotonic() - t0
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        return None, out, time.monotonic() - t0


def main(argv):
    if len(argv) < 2 or not os.path.isdir(argv[1]):
        print(__doc__)
        print(f"check_docs.py: give the folder of the built programs (build/bin), got {argv[1:2]}")
        return 2
    bindir = os.path.abspath(argv[1])
    files = argv[2:] or ([os.path.join(REPO, "README.md")] +
                         sorted(os.path.join(REPO, "docs", f) for f in os.listdir(os.path.join(REPO, "docs"))
                                if f.endswith(".md")) +
                         sorted(os.path.join(REPO, "docs", "examples", f)
                                for f in os.listdir(os.path.join(REPO, "docs", "examples")) if f.endswith(".md")))
    failures, skipped, problems = [], [], []
    checked = compared = 0
    scratch_root = tempfile.mkdtemp(prefix="ad_check_docs_")
    try:
        for path in files:
            blocks, found = parse(path)
            problems += found
            cwd = os.path.join(scratch_root, os.path.basename(path)[:-3])
            os.makedirs(cwd, exist_ok=True)
            for b in blocks:
                kinds = dict(b.checks)
                if b.lang == "text" and getattr(b, "paired", False):
                    continue  # checked with its shell block
                if b.lang not in ("sh", "text"):
                    if kinds:
                        problems.append(f"{b.where()}: check comments apply to ```sh and ```text blocks only")
                    continue
                if "skip" in kinds:
                    skipped.append((b.where(), kinds["skip"] or "(no reason given)"))
                    if b.output is not None:
                        skipped.append((b.output.where(), "the output of the skipped block above"))
                    continue
                if b.lang == "text":
                    if "run" not in kinds:
                        problems.append(f"{b.where()}: a ```text block (quoted output) with no shell block before it "
                                        "and no <!-- check: run COMMAND --> or <!-- check: skip REASON -->")
                        continue
                    script, expected = kinds["run"], b
                else:
                    script, expected = b.text, b.output
                patterns = [arg for kind, arg in b.checks if kind == "vary"]
                for p in patterns:
                    try:
                        re.compile(p)
                    except re.error as e:
                        problems.append(f"{b.where()}: check: vary {p}: {e}")
                want_rc = int(kinds.get("exit", "0"))
                rc, out, secs = run(script, bindir, cwd)
                checked += 1
                label = f"{b.where()} ({secs:.1f} s)"
                if rc is None:
                    failures.append(f"{label}: timed out after {TIMEOUT} s\n{out}")
                    continue
                if rc != want_rc:
                    failures.append(f"{label}: exit status {rc}, expected {want_rc}\n--- script:\n{script}\n"
                                    f"--- output:\n{out}")
                    continue
                if expected is None:
                    print(f"ok   {label}: ran (no output quoted)")
                    continue
                compared += 1
                want, got = normalise(expected.text, patterns), normalise(out, patterns)
                if matches(want, got):
                    print(f"ok   {label}: output as in {expected.where()}")
                else:
                    diff = "\n".join(difflib.unified_diff(want, got, "documented", "actual", lineterm=""))
                    failures.append(f"{label}: the output differs from {expected.where()}\n{diff}")
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)

    for where, reason in skipped:
        print(f"not run  {where}: {reason}")
    for p in problems:
        print(f"ERROR {p}")
    for f in failures:
        print(f"FAIL {f}\n")
    print(f"check_docs: {checked} blocks run ({compared} with their output compared), {len(skipped)} not run, "
          f"{len(failures)} failed, {len(problems)} convention errors")
    return 1 if failures or problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
