#!/usr/bin/env python3
"""depot merge on a pkgsrc-sized tree, side by side with the rsync merge
portshaker-style setups do (`rsync -a --delete upstream/ T/`, then each overlay
`rsync -a` over it), in one run.

The synthetic upstream has --recipes recipes in 100 categories, each with
recipe.toml, distinfo, DESCR and PLIST and a third with 1-4 patches (pkgsrc
has about 19,000 packages and 170,000 files); a local tree overrides 50
recipes with newer versions and adds 50; a patches-only tree adds a patch and
its distinfo to 50. Three cases are timed: the first merge into an empty
target, a merge with no source change, and a merge after one recipe changed.
The rsync baseline does less than depot (no version comparison, no atomic
switch: readers see it half-done, no record of origins), so a ratio below 1
is depot doing more in less time.

    cargo build --release && python3 benches/merge.py [--recipes 18000] [--rounds 3]
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

import built

HERE = os.path.dirname(os.path.abspath(__file__))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def recipe(root, cat, name, version, rng, patches=None):
    d = os.path.join(root, cat, name)
    write(
        os.path.join(d, "recipe.toml"),
        f'distname = "{name}-{version}"\ncategories = ["{cat}"]\ncomment = "The {name} package"\n'
        f'homepage = "https://example.org/{name}/"\nlicense = "mit"\n'
        f'master_sites = ["https://example.org/dist/"]\ngnu_configure = true\n'
        + "".join(f'# padding {i} {rng.random()}\n' for i in range(8)),
    )
    write(
        os.path.join(d, "distinfo"),
        f"$NetBSD$\n\nSHA256 ({name}-{version}.tar.gz) = {rng.getrandbits(256):064x}\n"
        f"Size ({name}-{version}.tar.gz) = {rng.randint(10000, 9000000)} bytes\n",
    )
    write(os.path.join(d, "DESCR"), f"{name} does things.\n" * rng.randint(2, 12))
    write(
        os.path.join(d, "PLIST"),
        "".join(f"share/{name}/file{i}\n" for i in range(rng.randint(5, 60))),
    )
    count = rng.choice([0, 0, 1, 2, 4]) if patches is None else patches
    for i in range(count):
        write(
            os.path.join(d, "patches", f"patch-src_file{i}.c"),
            f"--- src/file{i}.c.orig\n+++ src/file{i}.c\n@@ -1,3 +1,3 @@\n"
            + "".join(f" line {j} {rng.random()}\n" for j in range(rng.randint(10, 60))),
        )


def make_sources(base, n, rng):
    up = os.path.join(base, "m", "upstream")
    cats = [f"cat{c:02d}" for c in range(100)]
    names = []
    for i in range(n):
        cat = cats[i % len(cats)]
        name = f"pkg{i:05d}"
        recipe(up, cat, name, "1.0", rng)
        names.append((cat, name))
    local = os.path.join(base, "m", "local")
    for cat, name in rng.sample(names, 50):
        recipe(local, cat, name, "1.1", rng)
    for i in range(50):
        recipe(local, "local", f"mine{i:02d}", "0.1", rng)
    patches = os.path.join(base, "m", "patches")
    for cat, name in rng.sample(names, 50):
        write(os.path.join(patches, cat, name, "patches", "patch-zz-local"), "--- a\n+++ a\n")
        shutil.copy(
            os.path.join(up, cat, name, "distinfo"), os.path.join(patches, cat, name, "distinfo")
        )
    return names


def timed(cmd, env=None):
    began = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def rsync_merge(base, target):
    m = os.path.join(base, "m")
    began = time.perf_counter()
    os.makedirs(target, exist_ok=True)
    for i, source in enumerate(["upstream", "local", "patches"]):
        cmd = ["rsync", "-a"] + (["--delete"] if i == 0 else []) + [f"{m}/{source}/", f"{target}/"]
        subprocess.run(cmd, check=True)
    return time.perf_counter() - began


def depot_merge(depot, base, config):
    return timed([depot, "--root", os.path.join(base, "root"), "merge", "--config", config])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipes", type=int, default=18000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--depot", default=built.release())
    a = p.parse_args()
    if not shutil.which("rsync"):
        print("skipped: rsync is not installed")
        return
    rng = random.Random(13)
    with tempfile.TemporaryDirectory(prefix="depot-merge-bench-") as base:
        names = make_sources(base, a.recipes, rng)
        files = sum(len(fs) for _, _, fs in os.walk(os.path.join(base, "m")))
        config = os.path.join(base, "merge.toml")
        write(
            config,
            'mirror_base_dir = "m"\n[target.main]\ntree = "tree"\n'
            'merge_from = ["upstream", "local", "patches+"]\n',
        )
        print(f"{a.recipes} upstream recipes, {files} source files; {a.rounds} rounds, median seconds")
        cases = {"first": ([], []), "unchanged": ([], []), "one changed": ([], [])}
        for r in range(a.rounds):
            for d in ["tree", ".tree.merge", "rsync-tree"]:
                path = os.path.join(base, d)
                if os.path.islink(path):
                    os.unlink(path)
                elif os.path.exists(path):
                    shutil.rmtree(path)
            subprocess.run(["sync"])
            rs = os.path.join(base, "rsync-tree")
            cases["first"][0].append(depot_merge(a.depot, base, config))
            cases["first"][1].append(rsync_merge(base, rs))
            cases["unchanged"][0].append(depot_merge(a.depot, base, config))
            cases["unchanged"][1].append(rsync_merge(base, rs))
            cat, name = names[r]
            recipe(os.path.join(base, "m", "upstream"), cat, name, f"2.{r}", rng)
            cases["one changed"][0].append(depot_merge(a.depot, base, config))
            cases["one changed"][1].append(rsync_merge(base, rs))
        print(f"{'case':<12} {'depot merge':>12} {'rsync x3':>10} {'ratio':>7}")
        for case, (d, r) in cases.items():
            dm, rm = statistics.median(d), statistics.median(r)
            print(f"{case:<12} {dm:>12.3f} {rm:>10.3f} {dm / rm:>7.2f}")


if __name__ == "__main__":
    main()
