#!/usr/bin/env python3
"""Foundation benchmarks, each run side by side with its baseline in one run.

1. Install a package of 20,000 small files: `depot add` (database and checksums
   included) vs plain `tar -xzf` of the same archive. Target: depot <= 1.3x tar.
2. Delete that package: `depot delete` (every file's checksum verified first)
   vs `rm -rf` of the same files. Target: depot <= 1.5x rm -rf.
3. `depot info -F <file>` on a database of 2,000 packages and 1,000,000 files.
   Target: <= 10 ms end to end (process start included).

Usage: benches/foundation.py [--depot PATH] [--runs 7] [--tmp DIR]
Runs are interleaved (baseline, depot, baseline, ...) and medians reported.
"""
import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time

import built


def timed(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start


def make_package(depot, work, files=20000, per_dir=100):
    stage = os.path.join(work, "stage")
    for i in range(files):
        d = os.path.join(stage, "share", "bench", f"d{i // per_dir:03d}")
        if i % per_dir == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:05d}.txt"), "w") as f:
            f.write(f"small file {i}\n" * 4)
    pkg = os.path.join(work, "bench-1.0.tgz")
    subprocess.run([depot, "create", "--from-dir", stage, pkg], check=True)
    return pkg


def bench_install(depot, work, runs):
    pkg = make_package(depot, work)
    tar_times, depot_times = [], []
    for r in range(runs):
        dest = os.path.join(work, f"tar-{r}")
        os.makedirs(dest)
        tar_times.append(timed(["tar", "-xzf", pkg, "-C", dest]))
        root = os.path.join(work, f"root-{r}")
        env = dict(os.environ, DEPOT_ROOT=root)
        env.pop("PKG_DBDIR", None)
        depot_times.append(timed([depot, "add", pkg], env=env))
        shutil.rmtree(dest)
        subprocess.run(["chmod", "-R", "u+w", root], check=True)
        shutil.rmtree(root)
    t, d = statistics.median(tar_times), statistics.median(depot_times)
    print(f"install 20,000 files: tar -xzf {t*1000:.1f} ms, depot add {d*1000:.1f} ms, ratio {d/t:.2f}x (target <= 1.3x)")
    return d / t


def bench_delete(depot, work, runs):
    pkg = os.path.join(work, "bench-1.0.tgz")
    rm_times, depot_times = [], []
    for r in range(runs):
        dest = os.path.join(work, f"rm-{r}")
        os.makedirs(dest)
        subprocess.run(["tar", "-xzf", pkg, "-C", dest], check=True)
        root = os.path.join(work, f"delroot-{r}")
        env = dict(os.environ, DEPOT_ROOT=root)
        env.pop("PKG_DBDIR", None)
        subprocess.run([depot, "add", pkg], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["sync"], check=True)
        rm_times.append(timed(["rm", "-rf", dest]))
        depot_times.append(timed([depot, "delete", "bench-1.0"], env=env))
        shutil.rmtree(root)
    r, d = statistics.median(rm_times), statistics.median(depot_times)
    print(f"delete 20,000 files: rm -rf {r*1000:.1f} ms, depot delete (verifying) {d*1000:.1f} ms, ratio {d/r:.2f}x (target <= 1.5x)")
    return d / r


def bench_info(depot, work, runs, packages=2000, files_per=500):
    root = os.path.join(work, "inforoot")
    env = dict(os.environ, DEPOT_ROOT=root)
    env.pop("PKG_DBDIR", None)
    # A writer creates the database (readers such as `depot info` never create a root).
    subprocess.run([depot, "admin", "rebuild-tree"], check=True, env=env, stdout=subprocess.DEVNULL)
    db = sqlite3.connect(os.path.join(root, "pkgdb", "pkgdb.sqlite3"))
    db.execute("PRAGMA synchronous = OFF")
    with db:
        for p in range(packages):
            name = f"pkg{p:04d}"
            cur = db.execute(
                "INSERT INTO packages (pkgname, name, version, comment, description, prefix, depot_dir, install_time)"
                " VALUES (?, ?, '1.0', 'bench', 'bench', '/usr/pkg', ?, 0)",
                (f"{name}-1.0", name, f"packages/{name}-1.0"),
            )
            pid = cur.lastrowid
            db.executemany(
                "INSERT INTO files (package_id, seq, path, kind, sha256, mode, size) VALUES (?, ?, ?, 'file', ?, 420, 10)",
                ((pid, i, f"share/{name}/sub{i // 50}/file{i:03d}", "0" * 64) for i in range(files_per)),
            )
            db.execute(
                "INSERT INTO metadata (package_id, name, content) VALUES (?, '+COMMENT', ?)", (pid, b'bench\n')
            )
    db.close()
    target = os.path.join(root, "packages", "pkg1234-1.0", "share", "pkg1234", "sub3", "file170")
    cmd = [depot, "info", "-qF", "-c", target]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    assert out == "bench\n", out
    view_path = "share/pkg1999/sub9/file499"
    times, view_times, true_times = [], [], []
    for _ in range(max(runs, 20)):
        true_times.append(timed(["true"]))
        times.append(timed(cmd, env=env))
        view_times.append(timed([depot, "info", "-qF", "-c", view_path], env=env, cwd="/"))
    m, v, base = statistics.median(times), statistics.median(view_times), statistics.median(true_times)
    print(
        f"info -F on 2,000 packages / 1,000,000 files: {m*1000:.2f} ms by depot path, {v*1000:.2f} ms by relative path"
        f" (process start of /bin/true: {base*1000:.2f} ms; target <= 10 ms)"
    )
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depot", default=built.release())
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--tmp", default=None, help="where to work (default: a temporary dir; use a disk path vs /dev/shm)")
    args = ap.parse_args()
    depot = os.path.abspath(args.depot)
    with tempfile.TemporaryDirectory(dir=args.tmp) as work:
        bench_install(depot, work, args.runs)
        bench_delete(depot, work, args.runs)
        bench_info(depot, work, args.runs)


if __name__ == "__main__":
    main()
