"""A training-job stand-in that tries every way out of its tree:
children and grandchildren, a double fork + setsid, a child that moves
itself to another cgroup, and a child forced onto a recycled pid.
Usage: job_tree.py OUTDIR CGROUP_PROCS_FILE"""
import os
import sys
import time

D, CG_PROCS = sys.argv[1], sys.argv[2]


def rec(name, pid=None):
    with open(f"{D}/{name}.pid", "w") as f:
        f.write(str(pid or os.getpid()))


rec("root")

# child -> grandchild
pid = os.fork()
if pid == 0:
    rec("child")
    g = os.fork()
    if g == 0:
        rec("grandchild")
        os.execv("/bin/true", ["true", "grandchild"])
    os.waitpid(g, 0)
    os._exit(0)
os.waitpid(pid, 0)

# double fork + setsid: the daemonized one outlives its parent
pid = os.fork()
if pid == 0:
    if os.fork() == 0:
        os.setsid()
        rec("daemonized")
        time.sleep(0.3)
        os.execv("/bin/true", ["true", "daemonized"])
    os._exit(0)
os.waitpid(pid, 0)

# a child that moves itself to another cgroup, then execs
pid = os.fork()
if pid == 0:
    with open(CG_PROCS, "w") as f:
        f.write(str(os.getpid()))
    rec("mover")
    os.execv("/bin/true", ["true", "moved"])
os.waitpid(pid, 0)

time.sleep(0.6)  # the daemonized process finishes first
sys.exit(5)
