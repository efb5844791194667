#!/usr/bin/env python3
"""Binary repository benchmarks, each run side by side with its baseline.

1. Install 200 small packages (a three-level graph: 20 apps -> 60 middles ->
   120 libraries) from a repository served over HTTP on 127.0.0.1:
   `depot install` of the 20 apps into a fresh root (summary fetch, closure,
   parallel downloads checked against FILE_CKSUM, database, one view
   generation) vs the same 200 files fetched and unpacked one after another
   by `curl` + `tar -xzf`. Target: depot faster.
2. A summary of 20,000 records: importing it (`depot install -n` on a fresh
   root: fetch, parse, import) (target <= 1 s), and then `depot install` of one
   package with the summary imported and cached (target <= 150 ms).

Usage: benches/repo.py [--depot PATH] [--runs 5] [--tmp DIR]
"""
import argparse
import gzip
import hashlib
import http.server
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

import built


def timed(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start


def serve(directory):
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=directory, **k)
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def create(depot, work, pkgname, deps, nfiles=5):
    stage = os.path.join(work, "stage", pkgname)
    os.makedirs(os.path.join(stage, "share", pkgname), exist_ok=True)
    for i in range(nfiles):
        with open(os.path.join(stage, "share", pkgname, f"f{i}"), "w") as f:
            f.write(f"{pkgname} file {i}\n" * 20)
    out = os.path.join(work, "site", "All", f"{pkgname}.tgz")
    cmd = [depot, "create", "--from-dir", stage, "-c", f"-{pkgname}", "-d", f"-{pkgname}"]
    if deps:
        cmd += ["-P", " ".join(deps)]
    subprocess.run(cmd + [out], check=True)
    shutil.rmtree(stage)


def graph_repo(depot, work):
    os.makedirs(os.path.join(work, "site", "All"))
    libs = [f"lib{i:03d}-1.0" for i in range(120)]
    mids = [f"mid{i:03d}-1.0" for i in range(60)]
    apps = [f"app{i:03d}-1.0" for i in range(20)]
    order = []
    for i, lib in enumerate(libs):
        create(depot, work, lib, [])
        order.append(lib)
    for i, mid in enumerate(mids):
        create(depot, work, mid, [f"lib{(2 * i) % 120:03d}>=1", f"lib{(2 * i + 1) % 120:03d}>=1"])
        order.append(mid)
    for i, app in enumerate(apps):
        create(depot, work, app, [f"mid{(3 * i + k) % 60:03d}-[0-9]*" for k in range(3)])
        order.append(app)
    subprocess.run([depot, "repo", "index", os.path.join(work, "site", "All")], check=True,
                   stdout=subprocess.DEVNULL)
    return [a.rsplit("-", 1)[0] for a in apps], order


def bench_closure(depot, work, runs):
    names, order = graph_repo(depot, work)
    server, url = serve(os.path.join(work, "site"))
    curl_times, depot_times = [], []
    for r in range(runs):
        dest = os.path.join(work, f"curl-{r}")
        os.makedirs(dest)
        start = time.perf_counter()
        for pkg in order:
            f = os.path.join(dest, f"{pkg}.tgz")
            subprocess.run(["curl", "-sf", "-o", f, f"{url}/All/{pkg}.tgz"], check=True)
            d = os.path.join(dest, pkg)
            os.makedirs(d)
            subprocess.run(["tar", "-xzf", f, "-C", d], check=True)
        curl_times.append(time.perf_counter() - start)
        root = os.path.join(work, f"root-{r}")
        env = dict(os.environ, DEPOT_ROOT=root, BINPKG_SITES=url)
        depot_times.append(timed([depot, "install", "-q"] + names, env=env))
        n = len(os.listdir(os.path.join(root, "packages")))
        assert n == 200, n
        shutil.rmtree(dest)
        subprocess.run(["chmod", "-R", "u+w", root], check=True)
        shutil.rmtree(root)
    server.shutdown()
    c, d = statistics.median(curl_times), statistics.median(depot_times)
    print(f"install 200 packages (3 levels) over HTTP: sequential curl + tar {c*1000:.0f} ms, "
          f"depot install {d*1000:.0f} ms, ratio {d/c:.2f}x (target < 1x)")


def big_summary(depot, work, count=20000):
    site = os.path.join(work, "big", "All")
    os.makedirs(site)
    stage = os.path.join(work, "big-stage")
    os.makedirs(os.path.join(stage, "bin"))
    with open(os.path.join(stage, "bin", "target"), "w") as f:
        f.write("#!/bin/sh\necho target\n")
    pkg = os.path.join(site, "target-1.0.tgz")
    subprocess.run([depot, "create", "--from-dir", stage, "-c", "-the target", "-d", "-target", pkg],
                   check=True)
    data = open(pkg, "rb").read()
    records = []
    for i in range(count - 1):
        name = f"pkg{i:05d}-{1 + i % 7}.{i % 13}"
        records.append(
            f"PKGNAME={name}\nDEPENDS=pkg{(i * 7) % (count - 1):05d}>=1\nCOMMENT=synthetic package {i}\n"
            f"SIZE_PKG={1000 + i}\nCATEGORIES=misc\nMACHINE_ARCH=x86_64\nOPSYS=Linux\n"
            f"HOMEPAGE=https://example.org/{i}\nLICENSE=modified-bsd\nPKGPATH=misc/pkg{i:05d}\n"
            f"FILE_NAME={name}.tgz\nFILE_SIZE={1000 + i}\nFILE_CKSUM=sha256 {hashlib.sha256(name.encode()).hexdigest()}\n"
            f"DESCRIPTION=A synthetic package, number {i},\nDESCRIPTION=with a description of two lines.\n\n")
    records.append(
        f"PKGNAME=target-1.0\nCOMMENT=the target\nFILE_NAME=target-1.0.tgz\nFILE_SIZE={len(data)}\n"
        f"FILE_CKSUM=sha256 {hashlib.sha256(data).hexdigest()}\nDESCRIPTION=target\n\n")
    text = "".join(records).encode()
    with gzip.open(os.path.join(site, "pkg_summary.gz"), "wb") as f:
        f.write(text)
    return os.path.join(work, "big"), len(text)


def bench_big(depot, work, runs):
    base, size = big_summary(depot, work)
    server, url = serve(base)
    imports, installs = [], []
    for r in range(runs):
        root = os.path.join(work, f"big-root-{r}")
        env = dict(os.environ, DEPOT_ROOT=root, BINPKG_SITES=url)
        imports.append(timed([depot, "install", "-n", "target"], env=env))
        # Warm: summary imported and cached, the package once downloaded.
        subprocess.run([depot, "install", "-q", "target"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([depot, "delete", "target"], env=env, check=True, stdout=subprocess.DEVNULL)
        installs.append(timed([depot, "install", "-q", "target"], env=env))
        subprocess.run(["chmod", "-R", "u+w", root], check=True)
        shutil.rmtree(root)
    server.shutdown()
    i, n = statistics.median(imports), statistics.median(installs)
    print(f"summary of 20,000 records ({size / 1e6:.1f} MB): fetch + import {i*1000:.0f} ms (target <= 1000 ms); "
          f"install one package, warm {n*1000:.0f} ms (target <= 150 ms)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depot", default=built.release())
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    depot = os.path.abspath(args.depot)
    with tempfile.TemporaryDirectory(dir=args.tmp) as work:
        bench_closure(depot, work, args.runs)
        bench_big(depot, work, args.runs)


if __name__ == "__main__":
    main()
