"""The common fixture of scenarios.md: a temp tree with approved and
unapproved data, checkpoints, a fake home with credentials, and a policy
naming them."""
import hashlib
import os
import tempfile


class DataTree:
    def __init__(self, prefix="fts-kt-data-"):
        self.root = tempfile.mkdtemp(prefix=prefix)
        r = self.root
        self.approved = f"{r}/data/approved"
        self.unapproved = f"{r}/data/unapproved"
        self.ckpt = f"{r}/ckpt"
        self.home = f"{r}/home"
        for d in (self.approved, self.unapproved, self.ckpt, f"{self.home}/.cache/huggingface", f"{self.home}/.aws"):
            os.makedirs(d)
        self.shards = []
        for i in range(3):
            p = f"{self.approved}/shard-{i}.jsonl"
            with open(p, "w") as f:
                for j in range(50):
                    f.write(f'{{"text": "example {i}-{j}"}}\n')
            self.shards.append(p)
        with open(f"{self.approved}/SHA256SUMS", "w") as f:
            for p in self.shards:
                with open(p, "rb") as shard:
                    f.write(f"{hashlib.sha256(shard.read()).hexdigest()}  {os.path.basename(p)}\n")
        self.unapproved_file = f"{self.unapproved}/x.jsonl"
        with open(self.unapproved_file, "w") as f:
            f.write('{"text": "not approved"}\n')
        self.hf_token = f"{self.home}/.cache/huggingface/token"
        with open(self.hf_token, "w") as f:
            f.write("hf_secret\n")
        self.aws = f"{self.home}/.aws/credentials"
        with open(self.aws, "w") as f:
            f.write("[default]\naws_secret_access_key = x\n")
        os.chmod(self.aws, 0o600)
        # A second name for a shard outside every watched tree.
        self.outside = f"{r}/outside"
        os.makedirs(self.outside)
        self.shard_alias = f"{self.outside}/alias.jsonl"
        os.link(self.shards[1], self.shard_alias)

    def policy(self, name="ft", mode="monitor", extra=""):
        r = self.root
        return f"""name: {name}
mode: {mode}
jobs:
  exec: ["**/fts-kt-launcher"]
data:
  training: ["{r}/data/approved/**"]
  outputs: ["{r}/ckpt/**"]
  protected: ["{r}/data/**", "{r}/ckpt/**"]
  sensitive: ["{r}/home/.aws/**", "**/.cache/huggingface/token"]
{extra}"""

    def cleanup(self):
        os.system(f"rm -rf '{self.root}'")


def kdev(st_dev):
    return f"{os.major(st_dev)}:{os.minor(st_dev)}"
