"""remote-code-in-job on real processes (scenario A18): a simulated Hugging
Face `trust_remote_code` (the job writes a module into its modules cache,
$HF_HOME/modules/transformers_modules, and imports it) raises the rule with
the module's SHA-256 and size; a module whose hash is on the policy's
process.allow_remote_code raises nothing, while a second module of the same
job, not on it, does (the positive control, checked after the barrier)."""
import hashlib
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = "/usr/bin/python3"

# What transformers does for trust_remote_code: write the repo's modeling
# file under HF_MODULES_CACHE (default $HF_HOME/modules), then import it.
REMOTE = r'''
import importlib.util, os, sys
cache = os.path.join(os.environ["HF_HOME"], "modules", "transformers_modules", "org", "repo")
os.makedirs(cache, exist_ok=True)
for name, text in zip(sys.argv[1::2], sys.argv[2::2]):
    path = os.path.join(cache, name + ".py")
    with open(path, "w") as f:
        f.write(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(name, module.VALUE)
'''

ALLOWED = "VALUE = 'allowed modeling code'\n"
UNLISTED = "import os\nVALUE = 'remote code nobody reviewed: ' + os.name\n"


def policy(tree, name, allow):
    r = tree.root
    return f"""name: {name}
mode: monitor
jobs:
  exec: ["**/fts-kt-launcher-{name}"]
data:
  training: ["{r}/data/approved/**"]
  outputs: ["{r}/ckpt/**"]
  base: ["{r}/code/**"]
process:
  allow_remote_code: [{", ".join(f'"{h}"' for h in allow)}]
"""


class RemoteCodeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        code = os.path.join(cls.t.root, "code")
        os.makedirs(code)
        cls.script = os.path.join(code, "remote.py")
        with open(cls.script, "w") as f:
            f.write(REMOTE)
        cls.allowed_sha = hashlib.sha256(ALLOWED.encode()).hexdigest()
        cls.d = Daemon({"open.yaml": policy(cls.t, "open", []),
                        "reviewed.yaml": policy(cls.t, "reviewed", [cls.allowed_sha])}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()

    def run_job(self, pol, hf_home, *modules):
        r = self.d.cli("run", "--policy", pol, "--", "/usr/bin/env", f"HF_HOME={hf_home}", PY, self.script,
                       *modules, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        job = r.stderr.split("job ")[1].split()[0]
        self.d.wait_for(lambda e: harness.of_kind(e, "job_end", job=job), timeout=30, what="job_end")
        return job

    def remote_alerts(self, events, job):
        return [e for e in events if e.get("rule") == "remote-code-in-job" and e.get("job", {}).get("id") == job]

    def test_a18_remote_code_written_and_imported(self):
        hf_home = os.path.join(self.t.home, ".cache", "huggingface")
        job = self.run_job("open", hf_home, "modeling_unlisted", UNLISTED)
        found = self.remote_alerts(self.d.sync(), job)
        path = os.path.join(hf_home, "modules", "transformers_modules", "org", "repo", "modeling_unlisted.py")
        self.assertTrue(found, "the module written and imported under the modules cache")
        self.assertEqual({a["file"]["path"] for a in found}, {path})
        want = hashlib.sha256(UNLISTED.encode()).hexdigest()
        for a in found:
            self.assertEqual(a["hash"]["sha256"], want)
            self.assertEqual(int(a["hash"]["size"]), len(UNLISTED))
            self.assertIn(want, a["message"])
            self.assertIn("AML.T0010.003", a["mitre"]["atlas"])

    def test_a18_allow_list(self):
        hf_home = os.path.join(self.t.root, "hf-elsewhere")  # HF_HOME is honoured, wherever it points
        job = self.run_job("reviewed", hf_home, "modeling_reviewed", ALLOWED, "modeling_other", UNLISTED)
        found = self.remote_alerts(self.d.sync(), job)
        base = os.path.join(hf_home, "modules", "transformers_modules", "org", "repo")
        # The control: the module not on the list is seen; the listed one is not an alert.
        self.assertEqual({a["file"]["path"] for a in found}, {f"{base}/modeling_other.py"},
                         [harness.summary(a) for a in found])
        self.assertEqual({a["hash"]["sha256"] for a in found}, {hashlib.sha256(UNLISTED.encode()).hexdigest()})
        hashed = [e for e in harness.of_kind(self.d.events(), "file_hash", job=job)
                  if e["file"]["path"] == f"{base}/modeling_reviewed.py"]
        self.assertTrue(hashed, "the reviewed module was seen and hashed")
        self.assertEqual({e["hash"]["sha256"] for e in hashed}, {self.allowed_sha})


if __name__ == "__main__":
    harness.main()
