#!/usr/bin/env python3
"""Regenerate link/hot-functions.txt: the functions depot runs for its quick commands.

build.rs hands the list to the linker (`--symbol-ordering-file`), which puts those
functions together at the start of .text. A view change runs about 1,200 functions
spread over 10 MB of code; packed, they fill about 1.2 MB, so a cold run touches
fewer pages (each first touch of a file page maps 16 around it, and each mapped
page costs again at exit) and fewer cache lines and TLB entries. See docs/notes.md,
session 17.

The list is every function that valgrind's callgrind sees run in these commands, in
order of first appearance, on a scratch root of three small packages: the view
changes first (the command whose fixed cost matters most), then the readers, then
an install and a delete. Symbols that a later build names differently (the linker
skips them quietly) only cost locality: run this again after large changes.

Rust's symbol names carry a hash of the crate's build metadata, and `cargo build` and
`cargo test` build the binary with different dependency features (a test build turns
on the dev-dependencies' features too), so the same function has two names. Give
both binaries (`--depot` twice: one from `cargo build --release`, one from `cargo
test --release`, which is what `.ci/run` builds); the list holds the first's names,
then the second's.

Usage: link/regenerate.py [--depot target/<host>/release/depot]...
Needs valgrind.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benches"))
import built  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def stage(base, i):
    d = os.path.join(base, f"p{i}-1.0")
    for f in [f"bin/p{i}", f"lib/libp{i}.so", f"share/man/man1/p{i}.1", f"share/p{i}/data"]:
        path = os.path.join(d, f)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(f"{i} {f}\n")
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depot", action="append")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is needed (Debian: apt-get install valgrind)")
    order, seen = [], set()
    for depot in args.depot or [built.release()]:
        for name in functions_run(os.path.abspath(depot)):
            if name not in seen:
                seen.add(name)
                order.append(name)
    path = os.path.join(HERE, "hot-functions.txt")
    with open(path, "w") as fh:
        fh.write("\n".join(order) + "\n")
    print(f"{len(order)} functions written to {path}")


def functions_run(depot):
    """The functions `depot` runs in the quick commands, in order of first appearance."""
    with tempfile.TemporaryDirectory() as work:
        root = os.path.join(work, "root")
        env = dict(os.environ, DEPOT_ROOT=root)
        env.pop("PKG_DBDIR", None)
        pkgs = []
        for i in range(4):
            out = os.path.join(work, f"p{i}-1.0.tgz")
            subprocess.run([depot, "create", "--from-dir", stage(work, i), out], check=True, env=env,
                           stdout=subprocess.DEVNULL)
            pkgs.append(out)
        subprocess.run([depot, "add"] + pkgs[:2], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run([depot, "add", "--no-view", pkgs[2]], check=True, env=env, stdout=subprocess.DEVNULL)
        commands = [
            ["view", "add", "default", "p2-1.0"],
            ["view", "remove", "default", "p2-1.0"],
            ["view", "list"],
            ["info"],
            ["info", "-L", "p0-1.0"],
            ["--version"],
            ["admin", "check"],
            ["add", pkgs[3]],
            ["delete", "p3-1.0"],
        ]
        order, seen = [], set()
        for n, command in enumerate(commands):
            out = os.path.join(work, f"callgrind.{n}")
            subprocess.run(["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}", depot]
                           + command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(out) as fh:
                for line in fh:
                    m = re.match(r"^c?fn=\(\d+\) (\S+)", line)
                    if not m:
                        continue
                    name = m.group(1).split("'")[0]
                    if name.startswith("0x") or name in seen:
                        continue
                    seen.add(name)
                    order.append(name)
    return order


if __name__ == "__main__":
    main()
