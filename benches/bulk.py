#!/usr/bin/env python3
"""Bulk scheduler benchmarks, each side by side with its baseline in one run.

  quality   makespan / lower bound of `depot bulk simulate` on dag_bench.py
            graphs (-n 2000, seeds 1-5, N = 4, 8, 12, 16): depot's critical
            path vs pbulk's rule and FIFO, and with --noise 0.5.
  cores     makespan at 16 cores: fixed make jobs (1 and cores/jobs), bob's
            rule, and depot's sharing by need (parallel fractions drawn by
            depot: a quarter 0-0.3, the rest 0.6-0.97, seeded).
  speeds    makespan / lower bound on slots of unequal speed (1,1,1,1;
            1,1,2,4; 1,2,2,2,4,4,8,8), -n 2000 seeds 1-5: depot's earliest
            finish by critical path vs portbuild's rule (graph order, least
            running/power), and depot with --noise 0.5.
  sleep     300 `sleep` jobs from a dag_bench.py graph: `make -k -j N` on the
            Makefile dag_bench.py writes vs `depot bulk simulate --execute`,
            N = 4 and 8, in one run.

usage: benches/bulk.py [quality|cores|speeds|sleep|all] [--depot PATH]
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DAG = os.path.join(HERE, "..", "..", "shared", "bench", "dag_bench.py")


def gen(tmp, n, seed):
    path = os.path.join(tmp, "g%d-%d.json" % (n, seed))
    if not os.path.exists(path):
        subprocess.run([sys.executable, DAG, "gen", "-n", str(n), "--seed", str(seed), "-o", path],
                       check=True, stdout=subprocess.DEVNULL)
    return path


def simulate(depot, graph, *args):
    out = subprocess.run([depot, "bulk", "simulate", graph] + list(args), check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    last = out.strip().splitlines()[-1]
    fields = dict(f.split("=") for f in last.split())
    return float(fields["makespan"]), float(fields["lower_bound"]), float(fields["ratio"])


def geo(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def quality(depot, tmp):
    cols = {"critical path": [], "pbulk": [], "fifo": [], "cp noise 0.5": []}
    print("seed  N  critical-path   pbulk    fifo   cp+noise0.5")
    for seed in range(1, 6):
        g = gen(tmp, 2000, seed)
        for n in (4, 8, 12, 16):
            row = [simulate(depot, g, "-j", str(n))[2],
                   simulate(depot, g, "-j", str(n), "--rule", "pbulk")[2],
                   simulate(depot, g, "-j", str(n), "--rule", "fifo")[2],
                   simulate(depot, g, "-j", str(n), "--noise", "0.5", "--seed", str(seed))[2]]
            for k, v in zip(cols, row):
                cols[k].append(v)
            print("%4d %2d  %10.4f  %8.4f  %6.4f  %8.4f" % ((seed, n) + tuple(row)))
    for k, v in cols.items():
        print("%-14s geomean %.4f  max %.4f" % (k, geo(v), max(v)))


def cores(depot, tmp):
    configs = [("fixed 1, 16 jobs", ["-j", "16", "--policy", "fixed:1"]),
               ("fixed 4, 4 jobs", ["-j", "4", "--policy", "fixed:4"]),
               ("bob, 4 jobs", ["-j", "4", "--policy", "bob"]),
               ("bob, 8 jobs", ["-j", "8", "--policy", "bob"]),
               ("bob, 16 jobs", ["-j", "16", "--policy", "bob"]),
               ("by need, 16 jobs", ["-j", "16", "--policy", "by-need"])]
    print("seed  " + "  ".join("%16s" % c for c, _ in configs))
    for seed in range(1, 6):
        g = gen(tmp, 2000, seed)
        row = [simulate(depot, g, "--cores", "16", "--seed", str(seed), *a)[0] for _, a in configs]
        base = row[-1]
        print("%4d  " % seed + "  ".join("%9.0f (%.2f)" % (v, v / base) for v in row))


def speeds(depot, tmp):
    sets = ["1,1,1,1", "1,1,2,4", "1,2,2,2,4,4,8,8"]
    print("seed  speeds              depot   portbuild  depot+noise0.5")
    for sp in sets:
        cols = {"depot": [], "portbuild": [], "noise": []}
        for seed in range(1, 6):
            g = gen(tmp, 2000, seed)
            row = [simulate(depot, g, "--speeds", sp)[2],
                   simulate(depot, g, "--speeds", sp, "--rule", "portbuild")[2],
                   simulate(depot, g, "--speeds", sp, "--noise", "0.5", "--seed", str(seed))[2]]
            for k, v in zip(cols, row):
                cols[k].append(v)
            print("%4d  %-16s  %7.4f  %9.4f  %9.4f" % ((seed, sp) + tuple(row)))
        print("      %-16s  geomean depot %.4f (max %.4f)  portbuild %.4f (max %.4f)  noise %.4f (max %.4f)"
              % (sp, geo(cols["depot"]), max(cols["depot"]), geo(cols["portbuild"]),
                 max(cols["portbuild"]), geo(cols["noise"]), max(cols["noise"])))


def sleep(depot, tmp):
    g = gen(tmp, 300, 1)
    for n in (4, 8):
        bound = simulate(depot, g, "-j", str(n))[1]
        scale = 20.0 / bound
        mk = os.path.join(tmp, "Makefile")
        subprocess.run([sys.executable, DAG, "makefile", g, "--scale", "%.6f" % scale, "-o", mk],
                       check=True, stdout=subprocess.DEVNULL)
        t0 = time.monotonic()
        subprocess.run(["make", "-k", "-j", str(n), "-f", mk, "all"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        make = time.monotonic() - t0
        t0 = time.monotonic()
        subprocess.run([depot, "bulk", "simulate", g, "-j", str(n), "--execute", "%.6f" % scale],
                       check=True, stdout=subprocess.DEVNULL)
        dep = time.monotonic() - t0
        print("N=%d  bound %.2f s  make -k -j%d %.2f s  depot %.2f s  depot/make %.3f"
              % (n, bound * scale, n, make, dep, dep / make))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", nargs="?", default="all")
    p.add_argument("--depot", default=os.path.join(HERE, "..", "target", "release", "depot"))
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in (("quality", quality), ("cores", cores), ("speeds", speeds),
                         ("sleep", sleep)):
            if a.what in (name, "all"):
                print("## " + name)
                fn(a.depot, tmp)


if __name__ == "__main__":
    main()
