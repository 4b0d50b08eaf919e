"""Helpers of the test_trust_* files (issue 11, point 2): run a job, wait on
the daemon's barrier, read a job's alerts."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PY = "/usr/bin/python3"


def sync(d):
    """Returns once every record the kernel produced before the call has gone
    through rules and outputs: `ftsentinel sync` (Daemon.sync() where the
    harness has it)."""
    if hasattr(d, "sync"):
        d.sync()
        return
    r = d.cli("sync", timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"ftsentinel sync failed ({r.returncode}): {r.stderr}{r.stdout}")


def run_job(d, policy, *argv, cwd=None, rc=0, timeout=180):
    """`ftsentinel run --policy POLICY -- ARGV` from `cwd`; returns the job id."""
    r = harness.subprocess.run([harness.CLI, "--socket", d.socket, "run", "--policy", policy, "--", *argv],
                               capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if r.returncode != rc:
        raise AssertionError(f"job {argv} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stderr.split("job ")[1].split()[0]


def ended(d, job):
    """The job's end is out, and everything the kernel said before it."""
    d.wait_for(lambda e: harness.of_kind(e, "job_end", job=job), timeout=60, what=f"job_end of {job}")
    sync(d)


def alerts_in(events, job):
    return [e for e in events if "rule" in e and e.get("job", {}).get("id") == job]


def alerts(d, job):
    return alerts_in(d.events(), job)


def rules(al):
    return sorted(a["rule"] for a in al)


def file_events(d, job, path):
    return [e for e in harness.of_kind(d.events(), "file", job=job) if e["file"].get("path") == path]


def wait_job_started_by(d, pid, timeout=30):
    """The id of the job whose root is `pid` (a launcher matched by jobs.exec)."""
    def pred(evs):
        for e in harness.of_kind(evs, "job_start"):
            if e.get("job_info", {}).get("root_pid") == pid:
                return e["job"]["id"]
        return None
    return d.wait_for(pred, timeout=timeout, what=f"job_start of pid {pid}")
