#!/usr/bin/env python3
"""CPU time of spanprof's writer thread (the timeline's points, interval profiles)
against the whole process's, for one run of a program.

Usage: bench/writer-cpu.py [VAR=VALUE...] -- PROGRAM [ARGS...]

The VAR=VALUE pairs go to the program's environment (SPANPROF_OUT must be set for
the writer thread to exist; SPANPROF_TIMELINE_MS=0 turns the timeline off). Every
10 ms the writer thread's time on CPU and its count of time slices are read from
/proc/PID/task/TID/schedstat (the thread named `spanprof-writer`); the process's
user + system time comes from wait4's resource usage when it ends. CPU time, not
wall-clock time: the figures hold on a loaded machine. The program's stdout is
discarded.
"""
import os
import sys
import time

if "--" not in sys.argv:
    sys.exit(__doc__)
i = sys.argv.index("--")
env = dict(os.environ)
for kv in sys.argv[1:i]:
    k, v = kv.split("=", 1)
    env[k] = v
cmd = sys.argv[i + 1:]
pid = os.fork()
if pid == 0:
    fd = os.open("/dev/null", os.O_WRONLY)
    os.dup2(fd, 1)
    os.execvpe(cmd[0], cmd, env)
writer_ns, slices, t0 = 0, 0, time.monotonic()
while True:
    r, status, ru = os.wait4(pid, os.WNOHANG)
    if r == pid:
        break
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        tids = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() != "spanprof-writer":
                    continue
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns, _, n = f.read().split()
            writer_ns, slices = int(ns), int(n)
        except OSError:
            pass
    time.sleep(0.01)
wall = time.monotonic() - t0
cpu = ru.ru_utime + ru.ru_stime
print(
    f"wall {wall:.2f} s, process CPU {cpu:.3f} s, writer thread CPU {writer_ns / 1e6:.1f} ms "
    f"({100 * writer_ns / 1e9 / cpu:.2f} % of the process), {slices} time slices "
    f"({writer_ns / max(slices, 1) / 1e3:.0f} us each), exit status {os.waitstatus_to_exitcode(status)}"
)
