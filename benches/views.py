#!/usr/bin/env python3
"""View benchmarks, side by side in one run, on a synthetic depot of N packages x 100
entries (shared bin/, lib/, share/man/man1/, private share/pN subtrees):

- build the view with `depot view add` (folding) against GNU Stow (folding), lndir
  and `cp -as` (both unfolded), on the same staged packages;
- add one more package to the built view (a new generation);
- switch a view (`depot view rollback`, end to end);
- the same at each size given (default 200 and 1000), the build-time ratio between
  the largest and the smallest, and each depot command's peak RSS.

Usage: benches/views.py [--depot target/release/depot] [--sizes 200,1000] [--tmp DIR] [--runs 3]
Needs stow and lndir (Debian: stow, xutils-dev); missing tools are reported as skipped.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time


def run(cmd, **kw):
    """Run cmd; return (seconds, peak RSS in MB of that process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, **kw)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{cmd[:3]} failed with status {status}")
    return elapsed, usage.ru_maxrss / 1024


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
    ap.add_argument("--sizes", default="200,1000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    depot = os.path.abspath(args.depot)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    most = sizes[-1]
    med = statistics.median
    with tempfile.TemporaryDirectory(dir=args.tmp) as work:
        stage = os.path.join(work, "stage")
        pkgs = os.path.join(work, "pkgs")
        os.makedirs(pkgs)
        root = os.path.join(work, "root")
        env = dict(os.environ, DEPOT_ROOT=root)
        env.pop("PKG_DBDIR", None)
        names = []
        for i in range(most + 1):
            d = stage_package(stage, i)
            name = os.path.basename(d)
            names.append(name)
            subprocess.run([depot, "create", "--from-dir", d, os.path.join(pkgs, name + ".tzst")], check=True)
        # Install all into the depot only (not timed); the extra one is for "add one".
        for chunk in range(0, most + 1, 100):
            subprocess.run([depot, "add", "--no-view"] + [os.path.join(pkgs, x + ".tzst") for x in names[chunk:chunk + 100]],
                           check=True, env=env, stdout=subprocess.DEVNULL)
        extra = names[most]
        builds = {}
        for n in sizes:
            members = names[:n]
            depot_t, rss, stow_t, lndir_t, cp_t, adds, switches = [], [], [], [], [], [], []
            for r in range(args.runs):
                view = f"v{n}-{r}"
                subprocess.run([depot, "view", "create", view], check=True, env=env, stdout=subprocess.DEVNULL)
                t, m = run([depot, "view", "add", view] + members, env=env)
                depot_t.append(t)
                rss.append(m)
                if shutil.which("stow"):
                    target = os.path.join(work, f"stow-{n}-{r}")
                    os.makedirs(target)
                    stow_t.append(run(["stow", "-d", stage, "-t", target] + members)[0])
                if shutil.which("lndir"):
                    target = os.path.join(work, f"lndir-{n}-{r}")
                    os.makedirs(target)
                    script = " && ".join(f"lndir -silent {os.path.join(stage, m)} {target}" for m in members)
                    lndir_t.append(run(["sh", "-c", script])[0])
                target = os.path.join(work, f"cp-{n}-{r}")
                os.makedirs(target)
                sources = [os.path.join(stage, m, top) for m in members for top in os.listdir(os.path.join(stage, m))]
                cp_t.append(run(["cp", "-as"] + sources + [target + "/"])[0])
            for r in range(args.runs):
                view = f"v{n}-{r}"
                t, m = run([depot, "view", "add", view, extra], env=env)
                adds.append(t)
                rss.append(m)
                switches.append(run([depot, "view", "rollback", view], env=env)[0])
            d = med(depot_t)
            builds[n] = d
            print(f"{n} packages x 100 entries ({args.runs} runs, medians):")
            print(f"  build view: depot {d*1000:.1f} ms")
            if stow_t:
                print(f"    stow {med(stow_t)*1000:.1f} ms -> depot is {med(stow_t)/d:.1f}x faster (target >= 10x)")
            else:
                print("    stow: skipped (not installed)")
            if lndir_t:
                print(f"    lndir {med(lndir_t)*1000:.1f} ms -> depot/lndir {d/med(lndir_t):.2f}x")
            else:
                print("    lndir: skipped (not installed)")
            print(f"    cp -as {med(cp_t)*1000:.1f} ms -> depot/cp -as {d/med(cp_t):.2f}x (target <= 1.2x)")
            print(f"  add one package (a new generation): {med(adds)*1000:.1f} ms (target <= 30 ms)")
            print(f"  switch (rollback, end to end): {med(switches)*1000:.1f} ms (target <= 5 ms)")
            print(f"  peak RSS of a depot view command: {max(rss):.1f} MB")
        if len(sizes) > 1:
            lo, hi = sizes[0], sizes[-1]
            print(f"scaling: build at {hi} / build at {lo} = {builds[hi]/builds[lo]:.2f}x (target <= 5.5x)")


if __name__ == "__main__":
    main()
