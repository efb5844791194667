#!/usr/bin/env python3
"""Bulk scheduler benchmarks, each side by side with its baseline in one run.

  quality   makespan / lower bound of `depot bulk simulate` on dag_bench.py
            graphs (-n 2000, seeds 1-5, N = 4, 8, 12, 16): depot's plan vs a
            plain critical-path list schedule, pbulk's rule and FIFO, and
            with --noise 0.5 and with --missing 0.3.
  cores     makespan at 16 cores: fixed make jobs (1 and cores/jobs), bob's
            rule, and depot's sharing by need (parallel fractions drawn by
            depot: a quarter 0-0.3, the rest 0.6-0.97, seeded).
  speeds    makespan / lower bound on slots of unequal speed (1,1,1,1;
            1,1,2,4; 1,2,2,2,4,4,8,8), -n 2000 seeds 1-5: depot's earliest
            finish by critical path vs portbuild's rule (graph order, least
            running/power), and depot with --noise 0.5.
  nodes     300 `sleep` jobs (a dag_bench.py graph) over three local sshd
            nodes of powers 1, 1, 2 (4 slots) vs the same jobs on this
            machine with 4 slots: ssh dispatch overhead per job (ms), and
            the distributed makespan vs the simulated one.
  sleep     300 `sleep` jobs from a dag_bench.py graph: `make -k -j N` on the
            Makefile dag_bench.py writes vs `depot bulk simulate --execute`,
            N = 4 and 8, in one run.
  scan      `depot bulk scan` of a tree of 3,000 recipes (the dependencies of a
            dag_bench.py graph) on one thread (RAYON_NUM_THREADS=1) vs all
            cores, in one run: the parallel parse's speed-up.

usage: benches/bulk.py [quality|cores|speeds|nodes|sleep|scan|all] [--depot PATH]
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import built

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
    cols = {"depot (plan)": [], "critical path": [], "pbulk": [], "fifo": [],
            "plan noise 0.5": [], "plan missing 0.3": []}
    print("seed  N  depot(plan)  crit.path    pbulk    fifo   plan+noise0.5  plan+missing0.3")
    for seed in range(1, 6):
        g = gen(tmp, 2000, seed)
        for n in (4, 8, 12, 16):
            row = [simulate(depot, g, "-j", str(n))[2],
                   simulate(depot, g, "-j", str(n), "--rule", "critical-path")[2],
                   simulate(depot, g, "-j", str(n), "--rule", "pbulk")[2],
                   simulate(depot, g, "-j", str(n), "--rule", "fifo")[2],
                   simulate(depot, g, "-j", str(n), "--noise", "0.5", "--seed", str(seed))[2],
                   simulate(depot, g, "-j", str(n), "--missing", "0.3", "--seed", str(seed))[2]]
            for k, v in zip(cols, row):
                cols[k].append(v)
            print("%4d %2d  %10.4f  %9.4f  %8.4f  %6.4f  %8.4f  %8.4f" % ((seed, n) + tuple(row)))
    worse = [i for i, (p, c) in enumerate(zip(cols["depot (plan)"], cols["critical path"]))
             if p > c * (1 + 1e-9)]
    print("cases where the plan is worse than plain critical path: %d of %d"
          % (len(worse), len(cols["critical path"])))
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


def start_nodes(tmp, count):
    """Unprivileged sshd instances on 127.0.0.1 with keys made now."""
    import shutil
    import socket
    d = os.path.join(tmp, "sshd")
    os.makedirs(d, exist_ok=True)
    if os.getuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)
    for key in ("host", "user"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, key)],
                       check=True)
    shutil.copy(os.path.join(d, "user.pub"), os.path.join(d, "authorized_keys"))
    user = subprocess.run(["id", "-un"], stdout=subprocess.PIPE, text=True).stdout.strip()
    if os.getuid() == 0:
        # A login whose shell starts no profile: root's may be slow (this
        # machine's runs `pyenv init` for every ssh command).
        subprocess.run(["useradd", "-M", "-s", "/bin/sh", "depotnode"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # No password, but not locked (sshd without PAM refuses locked accounts).
        subprocess.run(["usermod", "-p", "*", "depotnode"], check=True)
        user = "depotnode"
    with open(os.path.join(d, "ssh_config"), "w") as f:
        f.write("Host *\n  IdentityFile %s/user\n  User %s\n  UserKnownHostsFile %s/known_hosts\n"
                "  StrictHostKeyChecking accept-new\n" % (d, user, d))
    procs, ports = [], []
    for i in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        conf = os.path.join(d, "sshd%d.conf" % i)
        with open(conf, "w") as f:
            f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s/host\nAuthorizedKeysFile %s/authorized_keys\n"
                    "PidFile %s/sshd%d.pid\nStrictModes no\nPasswordAuthentication no\nUsePAM no\n"
                    "PermitRootLogin prohibit-password\nLogLevel ERROR\nMaxSessions 64\nMaxStartups 64\n"
                    % (port, d, d, d, i))
        procs.append(subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", conf, "-E", conf + ".log"]))
        ports.append(port)
    for port in ports:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
    return procs, ports, "ssh -F %s/ssh_config" % d


def nodes(depot, tmp):
    g = gen(tmp, 300, 1)
    procs, ports, ssh = start_nodes(tmp, 3)
    try:
        nodes_file = os.path.join(tmp, "nodes")
        with open(nodes_file, "w") as f:
            for i, (port, power) in enumerate(zip(ports, (1, 1, 2))):
                work = os.path.join(tmp, "work%d" % i)
                os.makedirs(work)
                if os.getuid() == 0:
                    subprocess.run(["chown", "depotnode", work], check=True)
                f.write("127.0.0.1:%d %d work=%s\n" % (port, power, work))
        os.chmod(tmp, 0o755)
        # The cost of one multiplexed ssh command, for reference.
        cm = os.path.join(tmp, "cm")
        base = ssh.split() + ["-o", "BatchMode=yes", "-o", "ControlMaster=auto", "-o",
                              "ControlPath=%s" % cm, "-o", "ControlPersist=30", "-p", str(ports[0]),
                              "127.0.0.1", "--", "true"]
        subprocess.run(base, check=True, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        for _ in range(20):
            subprocess.run(base, check=True, stderr=subprocess.DEVNULL)
        ssh_ms = (time.monotonic() - t0) / 20 * 1000
        env = dict(os.environ, DEPOT_SSH=ssh, DEPOT_ROOT=os.path.join(tmp, "root"))
        bound = simulate(depot, g, "-j", "4")[1]
        scale = 60.0 / bound

        def run(*args):
            out = subprocess.run([depot, "bulk", "simulate", g, "--execute", "%.6f" % scale] + list(args),
                                 check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True, env=env).stdout
            fields = {}
            for line in out.splitlines():
                fields.update(f.split("=") for f in line.split())
            return float(fields["wall"]), float(fields["simulated"]), float(fields["overhead_ms"])

        local = run("-j", "4")
        remote = run("--nodes", nodes_file)
        print("300 sleeps, bound %.2f s" % (bound * scale))
        print("one machine, 4 slots:       wall %.2f s  simulated %.2f s  overhead %.1f ms/job"
              % local)
        print("3 sshd nodes (1,1,2):       wall %.2f s  simulated %.2f s  overhead %.1f ms/job"
              % remote)
        print("ssh dispatch: %.1f ms/job more (one multiplexed `ssh node true`: %.1f ms); "
              "distributed wall / simulated %.3f; vs one machine %.3f"
              % (remote[2] - local[2], ssh_ms, remote[0] / remote[1], remote[0] / local[0]))
    finally:
        for p in procs:
            p.kill()
            p.wait()


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


def scan(depot, tmp):
    g = gen(tmp, 3000, 1)
    with open(g) as fh:
        jobs = json.load(fh)["jobs"]
    tree = os.path.join(tmp, "scan-tree")
    for j in jobs:
        d = os.path.join(tree, "misc", j["name"])
        os.makedirs(d, exist_ok=True)
        deps = ", ".join('"%s>=1:../../misc/%s"' % (x, x) for x in j["deps"])
        with open(os.path.join(d, "recipe.toml"), "w") as fh:
            fh.write('distname = "%s-1.0"\ncategories = ["misc"]\ncomment = "Job %s"\n'
                     'distfiles = []\ndepends = [%s]\nno_build = true\n' % (j["name"], j["name"], deps))
    cores = os.cpu_count() or 1
    times = {1: [], cores: []}
    for run in range(5):
        for threads in times:
            root = os.path.join(tmp, "scan-root-%d-%d" % (threads, run))
            env = dict(os.environ, DEPOT_ROOT=root, RAYON_NUM_THREADS=str(threads))
            t0 = time.monotonic()
            subprocess.run([depot, "bulk", "--tree", tree, "scan"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[threads].append(time.monotonic() - t0)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    print("scan of %d recipes: 1 thread %.3f s, %d threads %.3f s, speed-up %.2fx"
          % (len(jobs), med[1], cores, med[cores], med[1] / med[cores]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", nargs="?", default="all")
    p.add_argument("--depot", default=built.release())
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in (("quality", quality), ("cores", cores), ("speeds", speeds),
                         ("nodes", nodes), ("sleep", sleep), ("scan", scan)):
            if a.what in (name, "all"):
                print("## " + name)
                fn(a.depot, tmp)


if __name__ == "__main__":
    main()
