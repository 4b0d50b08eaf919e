"""The observed ML-BOM (issue 15), end to end: a real job (PyTorch via
/usr/bin/python3) reads approved shards and a cached Arrow file, loads a base
model with torch.load, fetches a module into the Hugging Face modules cache
and imports it (trust_remote_code, simulated), writes a checkpoint and metrics
to its outputs and a note outside them. `ftsentinel export JOB --format
cyclonedx -o FILE` then writes a CycloneDX 1.6 BOM that validates against the
shipped schema, and whose every hash equals the SHA-256 of the file (hashlib),
each component with the host and time it was used."""
import hashlib
import json
import os
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "../schema/cyclonedx"))
import harness  # noqa: E402
import validate  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = "/usr/bin/python3"
ARTIFACTS = os.environ.get("FTS_TEST_ARTIFACTS", os.path.join(HERE, "../../build/test-artifacts"))

TRAIN = r"""
import importlib, json, os, sys
sys.dont_write_bytecode = True  # the module cache holds the fetched .py alone
import torch
approved, cache, base, modules, ckpt, note = sys.argv[1:7]
shards = sorted(os.path.join(approved, f) for f in os.listdir(approved) if f.endswith(".jsonl"))
rows = []
for s in shards:
    with open(s) as f:
        rows += [json.loads(l)["text"] for l in f]
with open(cache, "rb") as f:
    f.read()
state = torch.load(base, weights_only=True)          # the base model
# trust_remote_code: the hub's modeling file lands in the modules cache, then is imported.
os.makedirs(modules, exist_ok=True)
with open(os.path.join(modules, "modeling_tiny.py"), "w") as f:
    f.write("SCALE = 0.5\n")
sys.path.insert(0, modules)
tiny = importlib.import_module("modeling_tiny")
model = torch.nn.Linear(4, 1)
model.load_state_dict(state)
with torch.no_grad():
    model.weight.mul_(tiny.SCALE)
os.makedirs(os.path.join(ckpt, "checkpoint-1"), exist_ok=True)
torch.save(model.state_dict(), os.path.join(ckpt, "checkpoint-1", "model.pt"))
with open(os.path.join(ckpt, "metrics.json"), "w") as f:
    json.dump({"rows": len(rows)}, f)
with open(note, "w") as f:
    f.write("scratch\n")
print(json.dumps({"rows": len(rows)}))
"""


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def props(c):
    return {p["name"]: p["value"] for p in c.get("properties", [])}


class BomTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        t = cls.t = DataTree()
        cls.cache_dir = f"{t.root}/home/.cache/huggingface/datasets/wiki/0.0.0/x"
        os.makedirs(cls.cache_dir)
        cls.arrow = f"{cls.cache_dir}/wiki-train.arrow"
        with open(cls.arrow, "wb") as f:
            f.write(b"ARROW1" + b"wiki rows " * 200)
        cls.base = f"{t.root}/models/base/model.pt"
        os.makedirs(os.path.dirname(cls.base))
        import subprocess
        r = subprocess.run([PY, "-c", "import sys, torch; torch.manual_seed(1); "
                            "torch.save(torch.nn.Linear(4, 1).state_dict(), sys.argv[1])", cls.base],
                           capture_output=True, text=True, timeout=240)
        if r.returncode != 0:
            raise AssertionError(f"cannot make the base model:\n{r.stderr}")
        cls.modules = f"{t.root}/home/.cache/huggingface/modules/transformers_modules/tiny"
        cls.note = f"{t.root}/scratch/note.txt"
        os.makedirs(os.path.dirname(cls.note))
        extra = (f'  caches: ["{t.root}/home/.cache/huggingface/datasets/**"]\n'
                 f'  code: ["{t.root}/home/.cache/huggingface/modules/**"]\n')
        pol = t.policy(name="ft", extra=extra).replace(
            f'training: ["{t.root}/data/approved/**"]', f'training: ["{t.root}/data/approved/**", "{t.root}/models/**"]')
        cls.d = Daemon({"ft.yaml": pol}).start()
        r = cls.d.cli("run", "--policy", "ft", "--name", "bom-run", "--", PY, "-c", TRAIN, t.approved, cls.arrow,
                      cls.base, cls.modules, t.ckpt, cls.note, timeout=240)
        if r.returncode != 0:
            cls.d.cleanup()
            raise AssertionError(f"training job failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        cls.job = r.stderr.split("job ")[1].split()[0]
        cls.out = tempfile.mkdtemp(prefix="fts-kt-bom-")
        cls.bom_path = os.path.join(cls.out, "bom.json")
        cls.files = {  # what the BOM must list, with the content the daemon hashed
            "dataset": [*t.shards, cls.arrow],
            "model": [cls.base],
            "remote-code": [f"{cls.modules}/modeling_tiny.py"],
            "output": [f"{t.ckpt}/checkpoint-1/model.pt", f"{t.ckpt}/metrics.json"],
            "written": [cls.note],
        }
        cls.bom = cls.export_when_complete()
        os.makedirs(ARTIFACTS, exist_ok=True)  # for a person to read: build/test-artifacts/ml-bom.json
        with open(os.path.join(ARTIFACTS, "ml-bom.json"), "w") as f:
            json.dump(cls.bom, f, indent=2)

    @classmethod
    def export_when_complete(cls):
        """The journal has the run once its writer batch is in: export until every
        file is listed with a hash and the job's end is there."""
        deadline = time.time() + 60
        while True:
            r = cls.d.cli("export", cls.job, "--format", "cyclonedx", "-o", cls.bom_path, timeout=60)
            if r.returncode == 0:
                with open(cls.bom_path) as f:
                    bom = json.load(f)
                hashed = {props(c).get("ftsentinel:path") for c in bom.get("components", []) if c.get("hashes")}
                ended = props(bom["metadata"]["component"]).get("ftsentinel:end_time")
                if ended and all(p in hashed for ps in cls.files.values() for p in ps):
                    return bom
            if time.time() > deadline:
                raise AssertionError(f"export never listed every file with a hash ({r.returncode}): "
                                     f"{r.stderr}\n{open(cls.bom_path).read()[:4000] if os.path.exists(cls.bom_path) else ''}")
            time.sleep(0.3)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()
        os.system(f"rm -rf '{cls.out}'")

    def components(self, role, path):
        """A file's components in `role`: one per use (remote code: written, then read)."""
        got = [c for c in self.bom["components"]
               if props(c).get("ftsentinel:path") == path and props(c).get("ftsentinel:role") == role]
        self.assertTrue(got, f"{role} {path}: {json.dumps(self.bom)[:4000]}")
        return got

    def component(self, role, path):
        got = self.components(role, path)
        self.assertEqual(len(got), 1, f"{role} {path}: {got}")
        return got[0]

    def test_validates_against_the_cyclonedx_1_6_schema(self):
        self.assertEqual(validate.errors(self.bom), [])
        self.assertEqual(self.bom["bomFormat"], "CycloneDX")
        self.assertEqual(self.bom["specVersion"], "1.6")
        # Control: the validator does reject a broken BOM.
        broken = json.loads(json.dumps(self.bom))
        broken["components"][0]["type"] = "not-a-type"
        self.assertNotEqual(validate.errors(broken), [])

    def test_every_hash_is_the_files_sha256(self):
        n = 0
        for role, paths in self.files.items():
            for path in paths:
                for c in self.components(role, path):
                    self.assertEqual(c["hashes"], [{"alg": "SHA-256", "content": sha256(path)}], f"{role} {path}")
                n += 1
        self.assertEqual(len(self.components("remote-code", self.files["remote-code"][0])), 2, "written and imported")
        # Every hash in the document, not only these.
        for c in self.bom["components"]:
            for h in c.get("hashes", []):
                path = props(c)["ftsentinel:path"]
                if os.path.exists(path):
                    self.assertEqual(h["content"], sha256(path), path)
        self.assertEqual(n, 9)

    def test_kinds_host_and_time(self):
        starts = harness.of_kind(self.d.events(), "job_start", job=self.job)
        host = starts[0]["host"]
        self.assertEqual(self.component("model", self.base)["type"], "machine-learning-model")
        self.assertEqual(props(self.component("model", self.base))["ftsentinel:model_format"], "pickle")
        self.assertEqual(self.component("dataset", self.arrow)["type"], "data")
        self.assertEqual(self.component("output", f"{self.t.ckpt}/checkpoint-1/model.pt")["type"],
                         "machine-learning-model")
        self.assertEqual(props(self.component("written", self.note))["ftsentinel:sha256_source"], "export")
        self.assertEqual(props(self.component("dataset", self.arrow))["ftsentinel:sha256_source"], "journal")
        self.assertEqual(sorted(props(self.component("dataset", self.arrow))["ftsentinel:classes"].split(",")),
                         ["cache", "training"])
        exes = [c for c in self.bom["components"] if props(c).get("ftsentinel:role") == "executable"]
        self.assertIn(os.path.realpath(PY), [props(c)["ftsentinel:path"] for c in exes])
        for c in self.bom["components"]:
            p = props(c)
            self.assertEqual(p.get("ftsentinel:host"), host, c)
            self.assertTrue(p.get("ftsentinel:first_access") or p.get("ftsentinel:first_exec"), c)
        # What was written is files: no directory the job made (checkpoint-1/, the modules cache's).
        for c in self.bom["components"]:
            if props(c)["ftsentinel:role"] in ("output", "written", "remote-code"):
                self.assertTrue(os.path.isfile(props(c)["ftsentinel:path"]), c)
        run = self.bom["metadata"]["component"]
        self.assertEqual(props(run)["ftsentinel:job"], self.job)
        self.assertEqual(run["name"], "bom-run")


if __name__ == "__main__":
    harness.main()
