#!/usr/bin/env python3
"""View benchmarks, side by side in one run: building a view of a synthetic depot of
N packages x 100 entries (shared bin/, lib/, share/man/man1/, private subtrees) with
`depot view add`, GNU Stow (folding), lndir and `cp -as` (both unfolded); adding one
more package to the built view (a new generation); and switching a view.

Usage: benches/views.py [--depot target/release/depot] [--packages 200] [--tmp DIR] [--runs 3]
Needs stow and lndir (Debian: stow, xutils-dev); missing tools are reported as skipped.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time


def timed(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start


def stage_package(base, i):
    """100 entries: 5 in bin, 5 in lib, 5 man pages, 85 in a private subtree."""
    d = os.path.join(base, f"p{i:04d}-1.0")
    files = [f"bin/p{i}-{k}" for k in range(5)] + [f"lib/libp{i}-{k}.so" for k in range(5)]
    files += [f"share/man/man1/p{i}-{k}.1" for k in range(5)]
    files += [f"share/p{i}/sub{k // 10}/f{k}" for k in range(85)]
    for f in files:
        path = os.path.join(d, f)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(f"{i} {f}\n")
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depot", default="target/release/depot")
    ap.add_argument("--packages", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    depot = os.path.abspath(args.depot)
    n = args.packages
    with tempfile.TemporaryDirectory(dir=args.tmp) as work:
        stage = os.path.join(work, "stage")
        pkgs = os.path.join(work, "pkgs")
        os.makedirs(pkgs)
        root = os.path.join(work, "root")
        env = dict(os.environ, DEPOT_ROOT=root)
        env.pop("PKG_DBDIR", None)
        names = []
        for i in range(n + 1):
            d = stage_package(stage, i)
            name = os.path.basename(d)
            names.append(name)
            out = os.path.join(pkgs, name + ".tzst")
            subprocess.run([depot, "create", "--from-dir", d, out], check=True)
        # Install all into the depot only (not timed).
        for chunk in range(0, n + 1, 50):
            subprocess.run([depot, "add", "--no-view"] + [os.path.join(pkgs, x + ".tzst") for x in names[chunk:chunk + 50]], check=True, env=env, stdout=subprocess.DEVNULL)
        members = names[:n]
        results = {}
        depot_build, stow_t, lndir_t, cp_t = [], [], [], []
        for r in range(args.runs):
            view = f"bench{r}"
            subprocess.run([depot, "view", "create", view], check=True, env=env, stdout=subprocess.DEVNULL)
            depot_build.append(timed([depot, "view", "add", view] + members, env=env))
            if shutil.which("stow"):
                target = os.path.join(work, f"stow-{r}")
                os.makedirs(target)
                stow_t.append(timed(["stow", "-d", stage, "-t", target] + members))
            if shutil.which("lndir"):
                target = os.path.join(work, f"lndir-{r}")
                os.makedirs(target)
                script = " && ".join(f"lndir -silent {os.path.join(stage, m)} {target}" for m in members)
                lndir_t.append(timed(["sh", "-c", script]))
            target = os.path.join(work, f"cp-{r}")
            os.makedirs(target)
            sources = [os.path.join(stage, m, top) for m in members for top in os.listdir(os.path.join(stage, m))]
            cp_t.append(timed(["cp", "-as"] + sources + [target + "/"]))
        med = statistics.median
        d = med(depot_build)
        print(f"build view of {n} packages x 100 entries: depot {d*1000:.1f} ms")
        if stow_t:
            print(f"  stow {med(stow_t)*1000:.1f} ms  -> depot is {med(stow_t)/d:.1f}x faster than stow (target >= 10x)")
        else:
            print("  stow: skipped (not installed)")
        if lndir_t:
            print(f"  lndir {med(lndir_t)*1000:.1f} ms  -> depot/lndir {d/med(lndir_t):.2f}x")
        else:
            print("  lndir: skipped (not installed)")
        print(f"  cp -as {med(cp_t)*1000:.1f} ms  -> depot/cp -as {d/med(cp_t):.2f}x (target <= 1.2x)")
        # Add one package to the built view: a new generation.
        adds, switches = [], []
        for r in range(args.runs):
            view = f"bench{r}"
            adds.append(timed([depot, "view", "add", view, names[n]], env=env))
            switches.append(timed([depot, "view", "rollback", view], env=env))
        print(f"add one package to the {n}-package view: {med(adds)*1000:.1f} ms (target <= 30 ms)")
        print(f"switch (rollback, end to end): {med(switches)*1000:.1f} ms (target <= 5 ms)")
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"peak RSS of any child process: {usage.ru_maxrss/1024:.1f} MB")


if __name__ == "__main__":
    main()
