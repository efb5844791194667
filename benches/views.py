#!/usr/bin/env python3
"""View benchmarks, side by side in one run, on a synthetic depot of N packages x 100
entries (shared bin/, lib/, share/man/man1/, private share/pN subtrees):

- build the view with `depot view add` (folding) against GNU Stow (folding), lndir
  and `cp -as` (both unfolded), on the same staged packages;
- add one more package to the built view (a new generation);
- switch a view (`depot view rollback`, end to end);
- the same at each size given (default 200 and 1000), the build-time ratio between
  the largest and the smallest, and each depot command's peak RSS;
- adding one package to a view of each of --add-sizes packages (default 100, 1000,
  2000), end to end, against the floor: `views/examples/floor.rs` writing the
  identical link set of that generation with the same method (directories, then
  each directory's links relative to an open handle, one directory per thread).
  A line fitted through the sizes splits each into a fixed part and a part per
  link. Targets: depot's fixed part <= 3 ms, its part per link <= 1.2x the floor's.
  The fixed part is also measured directly: adding one package to a view of one
  package (32 links), which is all fixed cost. The fitted line's intercept is
  higher than that for depot and the floor alike: writing from all cores starts
  at 1,024 links (threads cost more than they save below), and the kernel's cost
  per link grows with the directories' sizes.

Usage: benches/views.py [--depot PATH] [--sizes 200,1000] [--add-sizes 100,1000,2000]
                        [--tmp DIR] [--runs 3]
Needs stow and lndir (Debian: stow, xutils-dev); missing tools are reported as skipped.
Run it on tmpfs (--tmp /dev/shm) to measure depot rather than the disk.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import built


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


def fit(points):
    """Least-squares line through (x, y): (intercept, slope)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    return my - slope * mx, slope


def bench_add_one(depot, floor, work, root, names, sizes, runs, env):
    """Add one package to views of each size; write the same generation with the floor.

    Three times: while the view's window of generations is not full; in the steady
    state of a view in use, where each change also forgets the generation leaving
    the window (`depot view keep VIEW 2`: every change prunes one) and starts its
    removal in the background; and the same with no pause between changes, as a
    script's loop runs them (the previous change's removal still under way)."""
    med = statistics.median
    series = {
        "window not full": ([], []),
        "steady state (each change prunes one)": ([], []),
        "steady state, back to back (as a script's loop)": ([], []),
    }
    direct = {}
    for n in [1] + sizes:
        view = f"a{n}"
        subprocess.run([depot, "view", "create", view], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run([depot, "view", "add", view] + names[:n], check=True, env=env, stdout=subprocess.DEVNULL)
        extra = names[n]
        for label, keep, pause in zip(series, ("1000", "2", "2"), (0.5, 0.5, 0.0)):
            subprocess.run([depot, "view", "keep", view, keep], check=True, env=env, stdout=subprocess.DEVNULL)
            adds, floors, links = [], [], 0
            for r in range(runs):
                time.sleep(pause)  # let the background removal of a pruned generation finish
                adds.append(run([depot, "view", "add", view, extra], env=env)[0])
                generation = os.path.realpath(os.path.join(root, "views", view))
                manifest = os.path.join(work, f"manifest-{n}")
                with open(manifest, "w") as fh:
                    subprocess.run(["find", ".", "-printf", "%y\t%P\t%l\n"], cwd=generation, check=True, stdout=fh)
                with open(manifest) as fh:
                    links = sum(1 for line in fh if line.startswith("l"))
                time.sleep(pause)
                dest = os.path.join(work, f"floor-{n}-{r}")
                floors.append(run([floor, manifest, dest])[0])
                shutil.rmtree(dest)
                subprocess.run([depot, "view", "remove", view, extra], check=True, env=env, stdout=subprocess.DEVNULL)
            d, f = med(adds), med(floors)
            if n == 1:
                direct[label] = (links, d, f)
                print(f"add one package to a view of 1 ({links} links), {label}: "
                      f"depot {d*1000:.2f} ms, floor {f*1000:.2f} ms (the fixed part, measured directly)")
                continue
            series[label][0].append((links, d))
            series[label][1].append((links, f))
            print(f"add one package to a view of {n} ({links} links), {label}: "
                  f"depot {d*1000:.1f} ms, floor {f*1000:.1f} ms, ratio {d/f:.2f}x")
    if len(sizes) > 1:
        for label, (depot_points, floor_points) in series.items():
            (d0, d1), (f0, f1) = fit(depot_points), fit(floor_points)
            print(f"  {label}: depot {d0*1000:.1f} ms + {d1*1e6:.2f} us/link; floor {f0*1000:.1f} ms + {f1*1e6:.2f} us/link")
            print(f"    fixed part {d0*1000:.1f} ms (target <= 3 ms), {(d0-f0)*1000:.1f} ms over the floor's; "
                  f"per link {d1/f1:.2f}x the floor's (target <= 1.2x)")
            if label in direct:
                links, d, f = direct[label]
                print(f"    fixed part measured directly (a view of 1 package, {links} links): depot {d*1000:.2f} ms "
                      f"(target <= 3 ms), floor {f*1000:.2f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depot", default=built.release())
    ap.add_argument("--sizes", default="200,1000")
    ap.add_argument("--add-sizes", default="100,1000,2000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    depot = os.path.abspath(args.depot)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    add_sizes = sorted(int(s) for s in args.add_sizes.split(",") if s)
    most = max(sizes + add_sizes)
    floor = os.path.join(os.path.dirname(depot), "examples", "floor")
    if add_sizes and not os.path.exists(floor):
        subprocess.run(["cargo", "build", "--release", "-p", "views", "--example", "floor"], check=True)
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
        if add_sizes:
            bench_add_one(depot, floor, work, root, names, add_sizes, args.runs, env)


if __name__ == "__main__":
    main()
