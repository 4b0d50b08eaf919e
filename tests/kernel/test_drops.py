"""Never blind silently: when the ring buffer overflows, the loss is counted
per CPU, shown by `ftsentinel status`, and written out as a sensor_drops event."""
import json
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Daemon, of_kind  # noqa: E402

POLICY = 'name: fl\nmode: monitor\njobs:\n  exec: ["**/fts-kt-none"]\n'


class DropsTest(unittest.TestCase):
    def test_ring_buffer_overflow_is_counted_and_reported(self):
        with Daemon({"fl.yaml": POLICY}, extra_config="sensor: { ringbuf_mb: 1 }\n") as d:
            fifo = os.path.join(d.tmp, "go")
            done = os.path.join(d.tmp, "done")
            os.mkfifo(fifo)
            # The job waits on a fifo, so it is registered while the daemon still reads.
            job = subprocess.Popen([harness.CLI, "--socket", d.socket, "run", "--policy", "fl", "--", "/bin/sh", "-c",
                                    f"read x < {fifo}; i=0; while [ $i -lt 1000 ]; do /bin/true flood {'x' * 3000}; "
                                    f"i=$((i+1)); done; touch {done}"])
            d.wait_for(lambda e: of_kind(e, "job_start"), what="job_start")
            # Freeze the reader, flood the 1 MiB buffer (1000 execs of ~3 KiB records), thaw.
            d.proc.send_signal(signal.SIGSTOP)
            try:
                with open(fifo, "w") as f:
                    f.write("go\n")
                self.assertEqual(job.wait(timeout=120), 0)
            finally:
                d.proc.send_signal(signal.SIGCONT)
            ev = d.wait_for(lambda e: of_kind(e, "sensor_drops"), timeout=15, what="sensor_drops event")[0]
            st = json.loads(d.cli("status", "--json").stdout)
            total = int(st["ringbuf_drops"])
            per_cpu = [int(x) for x in st["ringbuf_drops_per_cpu"]]
            self.assertGreater(total, 0)
            self.assertEqual(sum(per_cpu), total)
            self.assertGreater(int(ev["sensor"]["ringbuf_drops"]), 0)
            self.assertIn("lost", d.stderr())
            # (the test's own SIGSTOP/SIGCONT of the daemon are sensor-tamper alerts too)
            alert = d.wait_for(lambda e: [x for x in e if x.get("rule") == "sensor-tamper"
                                          and "records lost" in x["message"]] or None,
                               what="sensor-tamper alert for the drops")[0]
            self.assertEqual(alert["severity"], "high")


if __name__ == "__main__":
    harness.main()
