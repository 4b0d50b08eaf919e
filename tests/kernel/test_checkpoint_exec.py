"""checkpoint-code-exec on real processes (scenario A17): Debian's python3-torch
loads, inside a job, checkpoints whose pickle runs `/bin/sh -c ...` or connects
out (to a loopback listener of the test); each raises the rule with the file's
SHA-256. In the same job, a benign torch.save/torch.load round trip and a
numpy.load of an .npy raise nothing: the sensor saw the benign load (its
model_load event), checked after the barrier."""
import hashlib
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = "/usr/bin/python3"

# Made by the test, outside the job: checkpoints whose unpickling runs code.
CRAFT = r'''
import os, socket, sys, torch
shell_path, net_path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

class Shell:
    def __reduce__(self):
        return (os.system, ("/bin/sh -c 'echo pwned > /dev/null'",))

class Connect:
    def __reduce__(self):
        return (socket.create_connection, (("127.0.0.1", port),))

torch.save({"weights": torch.zeros(4), "x": Shell()}, shell_path)
torch.save({"weights": torch.zeros(4), "x": Connect()}, net_path)
'''

# The job: the benign loads first, then the two crafted checkpoints.
LOAD = r'''
import sys, numpy, torch
benign, npy, shell_path, net_path = sys.argv[1:5]
torch.save({"w": torch.arange(6.0)}, benign)
assert torch.equal(torch.load(benign)["w"], torch.arange(6.0))
numpy.save(npy, numpy.arange(5))
assert list(numpy.load(npy)) == [0, 1, 2, 3, 4]
torch.load(shell_path, weights_only=False)
torch.load(net_path, weights_only=False)
print("loaded")
'''

# A checkpoint that waits for its second load to run a shell (the first only
# leaves a marker among the outputs): the kernel names a repeated load by its
# inode alone (bpf/lib/model.h), and the window must still be one, named.
SLEEPER = r'''
import sys, torch

class Sleeper:
    def __reduce__(self):
        return (eval, ("__import__('os').system('/bin/sh -c true') if __import__('os').path.exists(%r) "
                       "else open(%r, 'w').close()" % (sys.argv[2], sys.argv[2]),))

torch.save({"weights": torch.zeros(4), "x": Sleeper()}, sys.argv[1])
'''

LOAD_TWICE = r'''
import sys, torch
for _ in range(2):
    torch.load(sys.argv[1], weights_only=False)
print("loaded twice")
'''


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class CheckpointExecTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.code = os.path.join(cls.t.root, "code")
        os.makedirs(cls.code)
        cls.load = os.path.join(cls.code, "load.py")
        with open(cls.load, "w") as f:
            f.write(LOAD)
        cls.listener = harness.Listener()
        # The loopback listener is an allowed destination: the connect is
        # still the rule, because it happens while a model loads.
        extra = f'  base: ["{cls.code}/**"]\nnetwork:\n  egress: ["127.0.0.1"]\n'
        cls.d = Daemon({"ft.yaml": cls.t.policy(extra=extra)}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.listener.close()
        cls.t.cleanup()

    def test_a17_code_running_checkpoints_and_benign_loads(self):
        ckpt = self.t.ckpt
        shell_pt, net_pt = f"{ckpt}/shell.pt", f"{ckpt}/connect.pth"
        benign_pt, npy = f"{ckpt}/benign.pt", f"{ckpt}/array.npy"
        r = subprocess.run([PY, "-c", CRAFT, shell_pt, net_pt, str(self.listener.port)],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)

        r = self.d.cli("run", "--policy", "ft", "--", "/usr/bin/env", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1",
                       PY, self.load, benign_pt, npy, shell_pt, net_pt, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertIn("loaded", r.stdout)
        job = r.stderr.split("job ")[1].split()[0]
        self.d.wait_for(lambda e: harness.of_kind(e, "job_end", job=job), timeout=60, what="job_end")
        events = self.d.sync()
        mine = [e for e in events if e.get("job", {}).get("id") == job]
        found = [a for a in mine if a.get("rule") == "checkpoint-code-exec"]

        # The shell: the child os.system forked ran /bin/sh while shell.pt loaded.
        shell = [a for a in found if a["model"]["path"] == shell_pt]
        self.assertTrue(shell, [harness.summary(a) for a in found])
        self.assertTrue(any("executed /usr/bin/dash" in a["message"] or "executed /bin/sh" in a["message"] or
                            "executed /usr/bin/sh" in a["message"] for a in shell), [a["message"] for a in shell])
        # The connect out, to an allowed destination, while connect.pth loaded.
        net = [a for a in found if a["model"]["path"] == net_pt]
        self.assertTrue(net, [harness.summary(a) for a in found])
        self.assertTrue(any(f"connected to 127.0.0.1:{self.listener.port}" in a["message"] for a in net),
                        [a["message"] for a in net])
        for a, path in [(shell[0], shell_pt), (net[0], net_pt)]:
            self.assertEqual(a["model"]["sha256"], sha256(path))
            self.assertEqual(a["model"]["format"], "pickle")
            self.assertTrue(a["model"]["weights_only_disabled"])
            self.assertEqual(a["severity"], "critical")
            self.assertIn("AML.T0011", a["mitre"]["atlas"])

        # The benign loads: nothing, though the sensor saw benign.pt load.
        self.assertEqual({a["model"]["path"] for a in found}, {shell_pt, net_pt},
                         [harness.summary(a) for a in found])
        loads = {e["model"]["path"] for e in harness.of_kind(mine, "model_load")}
        self.assertEqual(loads, {benign_pt, shell_pt, net_pt}, "every pickle-based load opened a window; .npy none")
        # The ML-BOM's record of what the run loaded: each file with its hash.
        hashed = {e["model"]["path"]: e["model"] for e in harness.of_kind(mine, "file_hash") if "model" in e}
        for path in (benign_pt, shell_pt, net_pt):
            self.assertIn(path, hashed)
            self.assertEqual(hashed[path]["sha256"], sha256(path))
            self.assertTrue(hashed[path]["weights_only_disabled"])

    def test_a17_the_second_load_of_a_checkpoint_is_a_window_too(self):
        sleeper, marker = f"{self.t.ckpt}/sleeper.pt", f"{self.t.ckpt}/sleeper.marker"
        r = subprocess.run([PY, "-c", SLEEPER, sleeper, marker], capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        twice = os.path.join(self.code, "load_twice.py")
        with open(twice, "w") as f:
            f.write(LOAD_TWICE)

        r = self.d.cli("run", "--policy", "ft", "--", PY, twice, sleeper, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertIn("loaded twice", r.stdout)
        self.assertTrue(os.path.exists(marker), "the first load ran and left its marker")
        job = r.stderr.split("job ")[1].split()[0]
        self.d.wait_for(lambda e: harness.of_kind(e, "job_end", job=job), timeout=60, what="job_end")
        mine = [e for e in self.d.sync() if e.get("job", {}).get("id") == job]
        # The first load: its event names the file (one per process and file).
        loads = [e["model"]["path"] for e in harness.of_kind(mine, "model_load")]
        self.assertEqual(loads, [sleeper])
        # The second: the shell it ran is the rule, with the path and hash of the file.
        found = [a for a in mine if a.get("rule") == "checkpoint-code-exec"]
        self.assertTrue(found, [harness.summary(e) for e in mine])
        self.assertEqual({a["model"]["path"] for a in found}, {sleeper}, [a["message"] for a in found])
        self.assertTrue(any("executed" in a["message"] for a in found), [a["message"] for a in found])
        self.assertEqual(found[0]["model"]["sha256"], sha256(sleeper))


if __name__ == "__main__":
    harness.main()
