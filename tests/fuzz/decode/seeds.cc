// Writes one well-formed kernel record of each kind (tests/unit/support's
// builder) into a folder: the decode target's seeds. Rerun when events.h
// changes:  fuzz_decode_seeds tests/fuzz/decode/corpus
#include <cstdio>
#include <fstream>
#include <string>

#include "support/build.h"

namespace {

using namespace fts::decode;

Header hdr(Kind k) {
  Header h;
  h.kind = k;
  h.ts_ns = 1'000'000'000;
  h.job_id = 42;
  h.cgroup_id = 7;
  h.task = {1234, 99};
  h.tid = 1234;
  return h;
}

void write(const std::string& dir, const char* name, const std::vector<uint8_t>& bytes) {
  std::ofstream(dir + "/" + name, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                          static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return std::fprintf(stderr, "usage: %s DIR\n", argv[0]), 2;
  std::string dir = argv[1];
  Exec e;
  e.hdr = hdr(Kind::kExec);
  e.exe = "/usr/bin/python3";
  e.cwd = "/home/alice/run";
  e.filename = "python3";
  e.args = {"python3", "train.py", "--name=\xff\xfe"};
  e.argc = 3;
  e.preload = "/tmp/x.so";
  write(dir, "exec", build(e));
  write(dir, "fork", build(Fork{hdr(Kind::kFork), {1, 5}, true}));
  write(dir, "exit", build(Exit{hdr(Kind::kExit), 256}));
  Cgroup c;
  c.hdr = hdr(Kind::kCgroupMkdir);
  c.id = 9;
  c.path = "/system.slice/finetune-1.scope";
  write(dir, "cgroup", build(c));
  File f;
  f.hdr = hdr(Kind::kFile);
  f.op = FileOp::kRename;
  f.path = "/data/shards/a.parquet";
  f.path2 = "/data/shards/b.parquet";
  f.exe = "/usr/bin/python3";
  write(dir, "file", build(f));
  Net n;
  n.hdr = hdr(Kind::kNet);
  n.op = NetOp::kConnect;
  n.dport = 443;
  write(dir, "net", build(n));
  Dns d;
  d.hdr = hdr(Kind::kDns);
  d.name = "hub.internal";
  write(dir, "dns", build(d));
  DnsAnswer a;
  a.hdr = hdr(Kind::kDnsAnswer);
  a.name = "files.pythonhosted.org";
  a.addresses.push_back({});
  write(dir, "dns_answer", build(a));
  ProcessAccess p;
  p.hdr = hdr(Kind::kProcessAccess);
  p.op = AccessOp::kPtrace;
  write(dir, "access", build(p));
  SensorTouch s;
  s.hdr = hdr(Kind::kSensor);
  s.op = SensorOp::kObjGet;
  s.name = "fts_tasks";
  write(dir, "sensor", build(s));
  Socket k;
  k.hdr = hdr(Kind::kSocket);
  k.family = 2;
  write(dir, "socket", build(k));
  write(dir, "io_uring", build(IoUring{hdr(Kind::kIoUring), 1, 3}));
  return 0;
}
