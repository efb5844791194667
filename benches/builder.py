#!/usr/bin/env python3
"""Builder benchmark: GNU hello built, packaged and installed through depot vs
the same build by hand, side by side in one run.

By hand: `tar -xzf`, `./configure --prefix=P`, `make -jN`, `make install DESTDIR=D`.
depot:   `depot build recipes/misc/hello` (fetch from a file:// override,
         checksum, extract, patch, wrapper, configure, build, install, package)
         then `depot add` of the package (the install into the root).
Target: depot <= 1.1x by hand. depot's own overhead (the phases the hand build
does not have: fetch, checksum, wrapper, package, and the install into the
root) is reported separately, from `depot build -v`'s phase times.

Usage: benches/builder.py [--depot PATH] [--runs 5] [--jobs 2] [--tmp DIR]
Runs are interleaved (by hand, depot, by hand, ...) and medians reported.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time

import built

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
DISTFILES = os.path.join(SOURCE, "..", "shared", "distfiles")
TARBALL = os.path.join(DISTFILES, "hello-2.10.tar.gz")


def by_hand(work, jobs):
    src = os.path.join(work, "src")
    os.makedirs(src)
    prefix = os.path.join(work, "prefix")
    dest = os.path.join(work, "dest")
    quiet = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.perf_counter()
    subprocess.run(["tar", "-xzf", TARBALL, "-C", src], **quiet)
    tree = os.path.join(src, "hello-2.10")
    subprocess.run(["./configure", f"--prefix={prefix}", "--disable-nls"], cwd=tree, **quiet)
    subprocess.run(["make", f"-j{jobs}"], cwd=tree, **quiet)
    subprocess.run(["make", "install", f"DESTDIR={dest}"], cwd=tree, **quiet)
    return time.perf_counter() - start


def through_depot(depot, work, jobs):
    env = dict(os.environ)
    env.update(
        DEPOT_ROOT=os.path.join(work, "root"),
        MASTER_SITE_OVERRIDE="file://" + os.path.realpath(DISTFILES) + "/",
        MAKE_JOBS=str(jobs),
        PACKAGES=os.path.join(work, "packages"),
        WRKOBJDIR=os.path.join(work, "work"),
        DISTDIR=os.path.join(work, "distfiles"),
    )
    recipe = os.path.join(SOURCE, "recipes", "misc", "hello")
    start = time.perf_counter()
    out = subprocess.run([depot, "build", "-v", recipe], env=env, check=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    built = time.perf_counter()
    pkg = os.path.join(work, "packages", "All", "hello-2.10.tgz")
    subprocess.run([depot, "add", pkg], env=env, check=True, stdout=subprocess.DEVNULL)
    end = time.perf_counter()
    phases = {}
    for line in out.stderr.splitlines():
        m = re.match(r"depot:\s+(\w+)\s+([0-9.]+) s$", line)
        if m:
            phases[m.group(1)] = float(m.group(2))
    return end - start, end - built, phases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depot", default=built.release())
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    if not os.path.exists(TARBALL):
        print(f"SKIPPED: {TARBALL} is not there")
        return
    hand, depot_total, install, phase_runs = [], [], [], []
    for _ in range(args.runs):
        for which in ("hand", "depot"):
            work = tempfile.mkdtemp(dir=args.tmp)
            try:
                if which == "hand":
                    hand.append(by_hand(work, args.jobs))
                else:
                    total, inst, phases = through_depot(args.depot, work, args.jobs)
                    depot_total.append(total)
                    install.append(inst)
                    phase_runs.append(phases)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    med = statistics.median
    h, d = med(hand), med(depot_total)
    print(f"hello-2.10, make -j{args.jobs}, {args.runs} runs each, medians")
    print(f"  by hand (tar, configure, make, make install DESTDIR): {h:7.3f} s")
    print(f"  depot (build + package + add):                       {d:7.3f} s  ({d / h:.3f}x)")
    names = ["fetch", "checksum", "extract", "patch", "wrapper", "configure", "build",
             "install", "package"]
    for name in names:
        values = [p.get(name, 0.0) for p in phase_runs]
        print(f"    {name:10} {med(values):7.3f} s")
    overhead = [sum(p.get(n, 0.0) for n in ("fetch", "checksum", "wrapper", "package")) + i
                for p, i in zip(phase_runs, install)]
    print(f"    {'add':10} {med(install):7.3f} s   (install into the root)")
    print(f"  depot's own overhead (fetch, checksum, wrapper, package, add): {med(overhead):.3f} s"
          f" = {med(overhead) / h:.1%} of the hand build")


if __name__ == "__main__":
    main()
