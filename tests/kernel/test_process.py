"""Process sensor and jobs, end to end: real BPF, real processes."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Cgroup, Daemon, of_kind, read_pid  # noqa: E402

POLICY = """name: tp
mode: monitor
jobs:
  exec: ["**/fts-kt-launcher", "**/fts-kt-ulaunch-*", "/nonexistent/dir/fts-kt-other"]
"""


def pids_of(events):
    return {e["process"]["pid"] for e in events if "process" in e}


class ProcessSensorTest(unittest.TestCase):
    def test_run_job_tree_every_descendant_reported_unrelated_not(self):
        cg = Cgroup("fts-kt-move")
        out = tempfile.mkdtemp(prefix="fts-kt-out-")
        try:
            with Daemon({"tp.yaml": POLICY}) as d:
                # An unrelated busy process during the whole job. At its end (the
                # control) it sends the daemon a harmless SIGCONT, which is
                # reported whoever sends it.
                unrelated = subprocess.Popen(
                    ["/bin/sh", "-c", "i=0; while [ $i -lt 200 ]; do /bin/true unrelated; i=$((i+1)); done; "
                                      f"kill -CONT {d.proc.pid}"])
                r = d.cli("run", "--policy", "tp", "--name", "tree", "--", "/usr/bin/python3",
                          os.path.join(harness.HERE, "job_tree.py"), out, cg.procs_file())
                unrelated.wait(timeout=60)
                self.assertEqual(r.returncode, 5, r.stderr)  # the command's own exit status
                self.assertIn("job ", r.stderr)
                job = r.stderr.split("job ")[1].split()[0]

                pid = {n: read_pid(f"{out}/{n}.pid") for n in
                       ("root", "child", "grandchild", "daemonized", "mover")}
                d.wait_for(lambda e: of_kind(e, "job_end", job=job) and of_kind(e, "sensor_touch", pid=unrelated.pid),
                           timeout=15, what="job_end and the unrelated process's signal")
                evs = d.sync()
                mine = [e for e in evs if e.get("job", {}).get("id") == job]

                # Every descendant's exec and exit, with the job id.
                for name, args in (("grandchild", ["true", "grandchild"]), ("daemonized", ["true", "daemonized"]),
                                   ("mover", ["true", "moved"])):
                    ex = of_kind(mine, "exec", pid=pid[name], args=args)
                    self.assertEqual(len(ex), 1, f"{name}: one exec expected")
                    self.assertEqual(ex[0]["process"]["exe"], "/usr/bin/true")
                    self.assertEqual(len(of_kind(mine, "exit", pid=pid[name])), 1, f"{name}: one exit expected")
                for name in ("child", "root"):
                    self.assertTrue(of_kind(mine, "exit", pid=pid[name]), f"{name} exit")
                root_exit = of_kind(mine, "exit", pid=pid["root"])[0]
                self.assertEqual(root_exit["exit"]["code"], 5)

                # Ancestry: the grandchild descends from child and root.
                gc = of_kind(mine, "exec", pid=pid["grandchild"])[0]
                anc = [a["pid"] for a in gc["process"]["ancestry"]]
                self.assertEqual(anc[:2], [pid["child"], pid["root"]])
                self.assertEqual(gc["process"]["ppid"], pid["child"])
                # The double-forked, setsid'd one still traces back to the root.
                dz = of_kind(mine, "exec", pid=pid["daemonized"])[0]
                self.assertIn(pid["root"], [a["pid"] for a in dz["process"]["ancestry"]])

                # The mover changed cgroup and stayed in the job.
                mv = of_kind(mine, "cgroup_move", pid=pid["mover"])
                self.assertEqual(len(mv), 1)
                self.assertEqual(mv[0]["cgroup"]["path"], cg.path)
                mex = of_kind(mine, "exec", pid=pid["mover"])[0]
                self.assertEqual(mex["process"]["cgroup"]["path"], cg.path)

                # Nothing about the unrelated process or its children but the control.
                self.assertFalse([e for e in evs if "unrelated" in e.get("process", {}).get("args", [])])
                control = [e for e in evs if e.get("process", {}).get("pid") == unrelated.pid]
                self.assertEqual(sorted(e["rule"] if "rule" in e else e.get("kind") for e in control),
                                 ["sensor-tamper", "sensor_touch"], control)
                self.assertNotIn(unrelated.pid, pids_of([e for e in evs if e not in control]))
                # Every other event is about this job.
                self.assertEqual(len(mine), len([e for e in evs if e.get("kind") != "sensor_drops"
                                                 and e not in control]))
                jobs = d.cli("jobs", "--all")
                self.assertIn(job, jobs.stdout)
        finally:
            cg.remove()
            subprocess.run(["rm", "-rf", out])

    def test_launcher_exec_starts_a_job(self):
        tmp = tempfile.mkdtemp(prefix="fts-kt-l-")
        try:
            launcher = os.path.join(tmp, "fts-kt-launcher")
            other = os.path.join(tmp, "fts-kt-other")          # basename matches, directory does not
            ulaunch = os.path.join(tmp, "fts-kt-ulaunch-7")    # glob on the basename: matched in user space
            with Daemon({"tp.yaml": POLICY}) as d:
                for path, tag in ((launcher, "worker"), (other, "not-a-job"), (ulaunch, "uworker")):
                    with open(path, "w") as f:
                        f.write(f"#!/bin/sh\n/bin/true {tag}\n/bin/true {tag}\n")
                        if path == other:  # the control: a SIGCONT to the daemon is reported from anyone
                            f.write(f"kill -CONT {d.proc.pid}\n")
                    os.chmod(path, 0o755)
                runs = {}
                for path in (launcher, other, ulaunch):  # one after the other, as before
                    runs[path] = subprocess.Popen([path])
                    self.assertEqual(runs[path].wait(timeout=30), 0)
                d.wait_for(lambda e: len(of_kind(e, "job_end")) >= 2 and of_kind(e, "sensor_touch", pid=runs[other].pid),
                           what="two job_end and the non-launcher's signal")
                evs = d.sync()
                starts = of_kind(evs, "job_start")
                self.assertEqual(len(starts), 2, [s["job_info"] for s in starts])
                by_name = {s["job_info"]["name"]: s for s in starts}
                self.assertEqual(set(by_name), {"fts-kt-launcher", "fts-kt-ulaunch-7"})
                for name, tag in (("fts-kt-launcher", "worker"), ("fts-kt-ulaunch-7", "uworker")):
                    s = by_name[name]
                    self.assertEqual(s["job_info"]["started_by"], "exec")
                    self.assertEqual(s["job"]["policy"], "tp")
                    workers = of_kind(evs, "exec", job=s["job"]["id"], argv1=[tag])
                    self.assertEqual(len(workers), 2, name)
                    for w in workers:
                        self.assertEqual(w["process"]["ppid"], s["job_info"]["root_pid"])
                    # the launcher's own exec is the job's first process event
                    root = of_kind(evs, "exec", job=s["job"]["id"], pid=s["job_info"]["root_pid"])
                    self.assertEqual(len(root), 1, name)
                self.assertFalse([e for e in evs if "not-a-job" in e.get("process", {}).get("args", [])])
                self.assertEqual(sorted(e["rule"] if "rule" in e else e.get("kind") for e in evs
                                        if e.get("process", {}).get("pid") == runs[other].pid),
                                 ["sensor-tamper", "sensor_touch"])
        finally:
            subprocess.run(["rm", "-rf", tmp])

    def test_cgroup_job(self):
        # This test's cgroups only: one a crashed earlier run left behind is no job of it.
        policy = f'name: cg\nmode: monitor\njobs:\n  cgroup: ["/fts-kt-job-{os.getpid()}-*"]\n'
        early = Cgroup("fts-kt-job")  # exists, with a process inside, before the daemon starts
        # It lives until the test closes its stdin (not a timer: the daemon may take
        # longer than any sleep to start on a loaded machine, and miss its exit).
        sleeper = subprocess.Popen(["/bin/sh", "-c", "read x"], stdin=subprocess.PIPE)
        early.add(sleeper.pid)
        late = None
        try:
            with Daemon({"cg.yaml": policy}) as d:
                late = Cgroup("fts-kt-job")  # appears while the daemon runs
                out = subprocess.run(["/bin/sh", "-c", f"echo $$ > {late.procs_file()}; exec /bin/true incgroup"],
                                     timeout=30)
                self.assertEqual(out.returncode, 0)
                sleeper.stdin.close()
                sleeper.wait(timeout=30)
                evs = d.wait_for(lambda e: of_kind(e, "exit", pid=sleeper.pid) and
                                 of_kind(e, "exec", argv1=["incgroup"]) and e, what="cgroup members")
                starts = {s["job_info"]["labels"]["cgroup"]: s for s in of_kind(evs, "job_start")}
                self.assertEqual(set(starts), {early.path, late.path})
                for s in starts.values():
                    self.assertEqual(s["job_info"]["started_by"], "cgroup")
                ex = of_kind(evs, "exec", argv1=["incgroup"])[0]
                self.assertEqual(ex["job"]["id"], starts[late.path]["job"]["id"])
                self.assertEqual(ex["process"]["cgroup"]["path"], late.path)
                self.assertEqual(of_kind(evs, "exit", pid=sleeper.pid)[0]["job"]["id"],
                                 starts[early.path]["job"]["id"])
                late.remove()
                d.wait_for(lambda e: of_kind(e, "job_end", job=starts[late.path]["job"]["id"]), what="job_end")
        finally:
            sleeper.kill()
            early.remove()
            if late:
                late.remove()

    def test_pid_reuse_does_not_confuse_identity(self):
        tmp = tempfile.mkdtemp(prefix="fts-kt-reuse-")
        try:
            # The process that gets the recycled pid is a launcher of its own job:
            # the control that the daemon sees it (a new job), and not as the old one.
            launcher = os.path.join(tmp, "fts-kt-launcher")
            with open(launcher, "w") as f:
                f.write("#!/bin/sh\nexec /bin/true reused\n")
            os.chmod(launcher, 0o755)
            with Daemon({"tp.yaml": POLICY}) as d:
                r = d.cli("run", "--policy", "tp", "--", "/bin/sh", "-c", "/bin/true first & wait $!; echo $!")
                self.assertEqual(r.returncode, 0, r.stderr)
                job = r.stderr.split("job ")[1].split()[0]
                victim = int(r.stdout.strip())
                d.wait_for(lambda e: of_kind(e, "exit", pid=victim), what="first exit")
                # An unrelated process gets the same pid: it is not in the job.
                got = None
                for _ in range(200):
                    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                        f.write(str(victim - 1))
                    p = subprocess.Popen([launcher])
                    p.wait()
                    if p.pid == victim:
                        got = p.pid
                        break
                self.assertIsNotNone(got, "could not recycle the pid in 200 tries")
                d.wait_for(lambda e: [s for s in of_kind(e, "job_start") if s["job_info"]["root_pid"] == victim],
                           what="the recycled pid's own job")
                evs = d.sync()
                self.assertFalse(of_kind(evs, "exec", argv1=["reused"], job=job))
                reused = of_kind(evs, "exec", argv1=["reused"], pid=victim)
                self.assertEqual(len(reused), 1)
                self.assertNotEqual(reused[0]["job"]["id"], job)
                first = of_kind(evs, "exec", pid=victim, job=job)
                self.assertEqual(len(first), 1)
                self.assertEqual(first[0]["process"]["args"][1:], ["first"])
        finally:
            subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    harness.main()
