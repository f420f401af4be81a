#!/usr/bin/python3
"""Side-by-side benchmark of libspanprof.so against glibc, preloaded jemalloc,
mimalloc and tcmalloc, and heaptrack, on real programs (not a test).

Runs every (program, allocator) pair once per round, interleaved (round-robin, so
load from other work on the machine falls on all of them alike), and prints the
median wall time and peak RSS (ru_maxrss of the waited-for process tree) per pair as
a Markdown table, with ratios to glibc and to spanprof without a profile.

    cargo build --release -p spanprof-preload --example system_alloc_program -p spanprof-cli
    /usr/bin/python3 bench/preload/compare.py [--rounds 5] [--only PROGRAM,...]

Needs: g++, sqlite3, sort, /usr/bin/python3; the peers from Debian's libjemalloc2,
libmimalloc2.0, libtcmalloc-minimal4; heaptrack. Missing ones are left out with a
note. Set CARGO_TARGET_DIR if the build is not in ./target.
"""
import argparse, os, resource, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROGRAMS = os.path.join(ROOT, "preload", "tests", "programs")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
LIB = os.path.join(TARGET, "release", "libspanprof.so")
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PEERS = {
    "jemalloc": LIBDIR + "/libjemalloc.so.2",
    "mimalloc": LIBDIR + "/libmimalloc.so.2",
    "tcmalloc": LIBDIR + "/libtcmalloc_minimal.so.4",
}


def programs(tmp):
    """name -> (argv, stdin path or None)."""
    cpp = os.path.join(tmp, "maps")
    subprocess.run(["g++", "-O2", "-g", "-pthread", "-o", cpp, os.path.join(PROGRAMS, "maps.cpp")], check=True)
    lines = os.path.join(tmp, "lines.txt")
    x = 42
    with open(lines, "w") as f:
        for i in range(600_000):
            x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
            f.write("%016x line %d\n" % (x >> 1, i))
    rust = os.path.join(TARGET, "release", "examples", "system_alloc_program")
    return {
        "python3": (["/usr/bin/python3", os.path.join(PROGRAMS, "churn.py"), "5"], None),
        "sqlite3": (["sqlite3", ":memory:"], os.path.join(PROGRAMS, "queries.sql")),
        "sort": (["sort", lines], None),
        "c++ maps": ([cpp], None),
        "rust (system alloc)": ([rust], None),
    }


def configs(tmp):
    """name -> (env additions, argv prefix)."""
    out = os.path.join(tmp, "prof-%p.json")
    c = {"glibc": ({}, [])}
    for name, lib in PEERS.items():
        if os.path.exists(lib):
            c[name] = ({"LD_PRELOAD": lib}, [])
        else:
            print("note: %s not installed (%s)" % (name, lib), file=sys.stderr)
    c["spanprof"] = ({"LD_PRELOAD": LIB}, [])
    c["spanprof sampled"] = ({"LD_PRELOAD": LIB, "SPANPROF_OUT": out, "SPANPROF_QUIET": "1"}, [])
    c["spanprof every alloc"] = (
        {"LD_PRELOAD": LIB, "SPANPROF_OUT": out, "SPANPROF_QUIET": "1", "SPANPROF_RATE": "1"}, [])
    if shutil.which("heaptrack"):
        c["heaptrack"] = ({}, ["heaptrack", "-o", os.path.join(tmp, "ht")])
    else:
        print("note: heaptrack not installed", file=sys.stderr)
    return c


def run_once(argv, stdin, env_add):
    env = dict(os.environ, LC_ALL="C", **env_add)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(stdin) if stdin else open(os.devnull) as fin:
        p = subprocess.Popen(argv, stdin=fin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    if status != 0:
        raise SystemExit("failed (%d): %s %s" % (status, env_add, argv))
    return dt, ru.ru_maxrss  # KiB; heaptrack: the largest process of its tree


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="")
    ap.add_argument("--configs", default="")
    a = ap.parse_args()
    if not os.path.exists(LIB):
        raise SystemExit("build it first: cargo build --release -p spanprof-preload (%s)" % LIB)
    tmp = tempfile.mkdtemp(prefix="spanprof-bench-")
    try:
        progs = programs(tmp)
        if a.only:
            progs = {k: v for k, v in progs.items() if k in a.only.split(",")}
        confs = configs(tmp)
        if a.configs:
            confs = {k: v for k, v in confs.items() if k in a.configs.split(",")}
        times = {(p, c): [] for p in progs for c in confs}
        rss = {(p, c): [] for p in progs for c in confs}
        for r in range(a.rounds):
            for p, (argv, stdin) in progs.items():
                for c, (env_add, prefix) in confs.items():
                    dt, m = run_once(prefix + argv, stdin, env_add)
                    times[(p, c)].append(dt)
                    rss[(p, c)].append(m)
                    for f in os.listdir(tmp):
                        if f.startswith("prof-") or f.startswith("ht"):
                            os.unlink(os.path.join(tmp, f))
            print("round %d done" % (r + 1), file=sys.stderr)
        med = {k: statistics.median(v) for k, v in times.items()}
        mrss = {k: statistics.median(v) for k, v in rss.items()}
        names = list(confs)
        print("median wall seconds (ratio to glibc); %d rounds, interleaved\n" % a.rounds)
        print("| program | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for p in progs:
            g = med[(p, "glibc")]
            cells = ["%.3f (%.2fx)" % (med[(p, c)], med[(p, c)] / g) for c in names]
            print("| %s | %s |" % (p, " | ".join(cells)))
        print("\nmedian peak RSS MiB (ratio to glibc)\n")
        print("| program | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for p in progs:
            g = mrss[(p, "glibc")]
            cells = ["%.1f (%.2fx)" % (mrss[(p, c)] / 1024, mrss[(p, c)] / g) for c in names]
            print("| %s | %s |" % (p, " | ".join(cells)))
        print("\ngoals")
        for p in progs:
            s = med[(p, "spanprof")]
            best = min([med[(p, c)] for c in PEERS if c in confs] or [float("inf")])
            line = "%s: spanprof/glibc %.2f, spanprof/best peer %.2f" % (p, s / med[(p, "glibc")], s / best)
            if "spanprof sampled" in confs:
                line += ", sampled/spanprof %.2f" % (med[(p, "spanprof sampled")] / s)
            if "heaptrack" in confs and "spanprof every alloc" in confs:
                line += ", heaptrack/every-alloc %.2f" % (med[(p, "heaptrack")] / med[(p, "spanprof every alloc")])
            line += ", RSS spanprof/glibc %.2f" % (mrss[(p, "spanprof")] / mrss[(p, "glibc")])
            print(line)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
