"""A fault of issue 16 that takes its minute: the SIEM flapping, down one
second and up the next, for a minute, while alerts keep coming. Every alert
reaches it (resends carry the same id), nothing is dropped, and the spool is
empty soon after the SIEM stays up. Prints a FIGURE line like test_faults.py."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Daemon  # noqa: E402
from test_faults import Siem, figure, output, resends, siem_output, status, wait  # noqa: E402

POLICY = 'name: fl\nmode: monitor\njobs:\n  exec: ["**/fts-kt-none"]\n'


class SiemFlapTest(unittest.TestCase):
    SECONDS = 60
    PER_BURST = 20  # alerts per `alert-test`, one burst every quarter second

    def test_siem_flapping_every_second_for_a_minute(self):
        siem = Siem()
        try:
            with Daemon({"fl.yaml": POLICY},
                        extra_config=siem_output(siem, ", events: alerts, retry_max_ms: 800")) as d:
                self.flap(d, siem)
        finally:
            siem.close()

    def flap(self, d, siem):
        stop = threading.Event()
        bursts = [0]

        def feed():
            while not stop.is_set():
                r = d.cli("alert-test", "--count", str(self.PER_BURST), "--severity", "low")
                if r.returncode != 0:
                    raise AssertionError(r.stderr)
                bursts[0] += 1
                stop.wait(0.25)

        feeder = threading.Thread(target=feed)
        feeder.start()
        flaps = 0
        try:
            end = time.monotonic() + self.SECONDS
            while time.monotonic() < end:
                time.sleep(1)
                if siem.is_up():
                    siem.down()
                else:
                    siem.up()
                flaps += 1
        finally:
            stop.set()
            feeder.join()
            if not siem.is_up():
                siem.up()
        steady = time.monotonic()
        d.sync()
        sent = {e["id"] for e in d.events() if e.get("rule") == "test-alert"}
        self.assertEqual(len(sent), bursts[0] * self.PER_BURST, "the file output has every alert")
        wait(lambda: sent <= {r["id"] for r in siem.received()}, 120, "every alert at the SIEM")
        recovery = time.monotonic() - steady
        wait(lambda: int(output(status(d), "siem").get("spooled", 0)) == 0, 30, "the spool empty")
        st = output(status(d), "siem")
        records = siem.received()
        dup, problems = resends(records)
        self.assertEqual(problems, [])
        self.assertEqual(int(st.get("dropped", 0)), 0, st)
        self.assertEqual(int(st.get("rejected", 0)), 0, st)
        self.assertGreater(int(st.get("failed", 0)), 0, "the SIEM was down half the time: deliveries failed")
        figure("siem-flapping", seconds=self.SECONDS, flaps=flaps, alerts_sent=len(sent),
               alerts_delivered=len(sent & {r["id"] for r in records}), lost=0, resent_same_id=dup,
               failed_attempts=st.get("failed", 0), posts=siem.posts, recovery_s=f"{recovery:.2f}")


if __name__ == "__main__":
    harness.main()
