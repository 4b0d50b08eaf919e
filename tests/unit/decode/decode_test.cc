// Decoding kernel records: every kind, from build() and from the raw ABI
// structs, and malformed input that must be refused without a crash.
#include <linux/types.h>

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "support/build.h"
#include "decode/records.h"
#include "support/fixtures.h"

extern "C" {
#include <ftsentinel/events.h>
}

namespace fts::decode {
namespace {

using fts::testing::sec;
using fts::testing::task;
using std::string_literals::operator""s;

// The decoded record as T (a copy, so temporaries are fine), or T{} after a failure.
template <typename T>
T as(const Result<Record>& r) {
  if (!r.ok()) {
    ADD_FAILURE() << r.error();
    return T{};
  }
  const T* x = std::get_if<T>(&*r);
  if (!x) {
    ADD_FAILURE() << "decoded to another kind";
    return T{};
  }
  return *x;
}

Header full_header(Kind kind) {
  Header h;
  h.kind = kind;
  h.ts_ns = 123'456'789'012ull;
  h.job_id = 0xabcdef0012345ull;
  h.cgroup_id = 4242;
  h.task = task(31337, sec(77) + 5);
  h.tid = 31338;
  h.cpu = 3;
  return h;
}

void expect_header(const Header& got, const Header& want) {
  EXPECT_EQ(got.kind, want.kind);
  EXPECT_EQ(got.ts_ns, want.ts_ns);
  EXPECT_EQ(got.job_id, want.job_id);
  EXPECT_EQ(got.cgroup_id, want.cgroup_id);
  EXPECT_EQ(got.task.tgid, want.task.tgid);
  EXPECT_EQ(got.task.start_ns, want.task.start_ns);
  EXPECT_EQ(got.tid, want.tid);
  EXPECT_EQ(got.cpu, want.cpu);
}

// --- round trips through build() ---

TEST(DecodeRoundTrip, ExecKeepsEveryField) {
  Exec e;
  e.hdr = full_header(Kind::kExec);
  e.parent = task(100, sec(5));
  e.uid = 1000, e.gid = 1001, e.euid = 0, e.egid = 1003;
  e.exe = "/usr/local/bin/torchrun";
  e.exe_flags.deleted = true;
  e.cwd = "/home/alice/run";
  e.cwd_flags.truncated = true;
  e.filename = "./torchrun";
  e.args = {"torchrun", "--nproc_per_node=8", "", "train.py"};
  e.args_truncated = true;
  e.job_started = true;
  e.joined_by_cgroup = true;
  e.policy = 2;

  auto r = decode(build(e));
  Exec x = as<Exec>(r);
  expect_header(x.hdr, e.hdr);
  EXPECT_EQ(x.parent.tgid, 100u);
  EXPECT_EQ(x.parent.start_ns, sec(5));
  EXPECT_EQ(x.uid, 1000u);
  EXPECT_EQ(x.gid, 1001u);
  EXPECT_EQ(x.euid, 0u);
  EXPECT_EQ(x.egid, 1003u);
  EXPECT_EQ(x.exe, "/usr/local/bin/torchrun");
  EXPECT_TRUE(x.exe_flags.deleted);
  EXPECT_FALSE(x.exe_flags.truncated);
  EXPECT_FALSE(x.exe_flags.internal);
  EXPECT_EQ(x.cwd, "/home/alice/run");
  EXPECT_TRUE(x.cwd_flags.truncated);
  EXPECT_FALSE(x.cwd_flags.deleted);
  EXPECT_EQ(x.filename, "./torchrun");
  EXPECT_EQ(x.args, (std::vector<std::string>{"torchrun", "--nproc_per_node=8", "", "train.py"}));
  EXPECT_EQ(x.argc, 4u);
  EXPECT_TRUE(x.args_truncated);
  EXPECT_TRUE(x.job_started);
  EXPECT_TRUE(x.joined_by_cgroup);
  EXPECT_EQ(x.policy, 2u);
}

TEST(DecodeRoundTrip, ExecWithoutFlagsHasNoneSet) {
  Exec e;
  e.hdr = full_header(Kind::kExec);
  e.exe = "/bin/true";
  e.cwd = "/";
  e.filename = "/bin/true";
  e.args = {"true"};
  Exec x = as<Exec>(decode(build(e)));
  EXPECT_EQ(x.exe, "/bin/true");
  EXPECT_EQ(x.cwd, "/");
  EXPECT_FALSE(x.exe_flags.truncated || x.exe_flags.internal || x.exe_flags.deleted);
  EXPECT_FALSE(x.cwd_flags.truncated || x.cwd_flags.internal || x.cwd_flags.deleted);
  EXPECT_FALSE(x.args_truncated);
  EXPECT_FALSE(x.job_started);
  EXPECT_FALSE(x.joined_by_cgroup);
  EXPECT_EQ(x.policy, ~0u);
}

TEST(DecodeRoundTrip, Fork) {
  Fork f;
  f.hdr = full_header(Kind::kFork);
  f.parent = task(7, sec(1) + 3);
  f.joined_by_cgroup = true;
  Fork x = as<Fork>(decode(build(f)));
  expect_header(x.hdr, f.hdr);
  EXPECT_EQ(x.parent.tgid, 7u);
  EXPECT_EQ(x.parent.start_ns, sec(1) + 3);
  EXPECT_TRUE(x.joined_by_cgroup);

  f.joined_by_cgroup = false;
  EXPECT_FALSE(as<Fork>(decode(build(f))).joined_by_cgroup);
}

TEST(DecodeRoundTrip, Exit) {
  Exit e;
  e.hdr = full_header(Kind::kExit);
  e.status = (3 << 8) | 0;
  Exit x = as<Exit>(decode(build(e)));
  expect_header(x.hdr, e.hdr);
  EXPECT_EQ(x.status, 3u << 8);
}

class DecodeCgroup : public ::testing::TestWithParam<Kind> {};

TEST_P(DecodeCgroup, RoundTrip) {
  Cgroup c;
  c.hdr = full_header(GetParam());
  c.id = 0x1234567;
  c.level = 3;
  c.path = "/system.slice/finetune-42.scope";
  auto r = decode(build(Record{c}));
  Cgroup x = as<Cgroup>(r);
  expect_header(x.hdr, c.hdr);
  EXPECT_EQ(x.hdr.kind, GetParam());
  EXPECT_EQ(x.id, 0x1234567u);
  EXPECT_EQ(x.level, 3u);
  EXPECT_EQ(x.path, "/system.slice/finetune-42.scope");
}

INSTANTIATE_TEST_SUITE_P(AllCgroupKinds, DecodeCgroup,
                         ::testing::Values(Kind::kCgroupMkdir, Kind::kCgroupRmdir, Kind::kCgroupAttach),
                         [](const ::testing::TestParamInfo<Kind>& info) {
                           return std::string(info.param == Kind::kCgroupMkdir   ? "Mkdir"
                                              : info.param == Kind::kCgroupRmdir ? "Rmdir"
                                                                                 : "Attach");
                         });

TEST(DecodeRoundTrip, HeaderOfEveryRecordKind) {
  EXPECT_EQ(header(Record{fts::testing::fork_of(task(5, sec(2)), task(4, sec(1)), 9)}).job_id, 9u);
  EXPECT_EQ(header(Record{fts::testing::exit_of(task(5, sec(2)), 0, 11)}).task.tgid, 5u);
}

// --- an exec record written the way the kernel writes it ---

struct RawExec {
  std::vector<uint8_t> bytes;
  fts_exec_event* ev() { return reinterpret_cast<fts_exec_event*>(bytes.data()); }
};

// exe, cwd: leaf-first NUL-terminated components, as the BPF dentry walk emits.
RawExec raw_exec(const std::string& exe, uint16_t exe_depth, const std::string& cwd, uint16_t cwd_depth,
                 const std::string& filename, const std::string& args) {
  fts_exec_event ev{};
  ev.hdr.kind = FTS_EV_EXEC;
  ev.hdr.ts_ns = 999'000'000'123ull;
  ev.hdr.job_id = fts_job_id(4000, sec(30));
  ev.hdr.cgroup_id = 0x77;
  ev.hdr.task.tgid = 4001;
  ev.hdr.task.start_ns = sec(31) + 17;
  ev.hdr.tid = 4001;
  ev.hdr.cpu = 1;
  ev.parent.tgid = 4000;
  ev.parent.start_ns = sec(30);
  ev.uid = 1000, ev.gid = 100, ev.euid = 1000, ev.egid = 100;
  ev.flags = FTS_PATH_DELETED | (FTS_PATH_INTERNAL << FTS_PATH_FLAG_BITS) | FTS_EXEC_ARGS_TRUNCATED;
  ev.policy = ~0u;
  ev.argc = 3;
  ev.exe_len = exe.size();
  ev.exe_depth = exe_depth;
  ev.cwd_len = cwd.size();
  ev.cwd_depth = cwd_depth;
  ev.filename_len = filename.size();
  ev.args_len = args.size();
  std::string tail = exe + cwd + filename + args;
  ev.hdr.size = sizeof(ev) + tail.size();
  RawExec r;
  r.bytes.resize(ev.hdr.size);
  std::memcpy(r.bytes.data(), &ev, sizeof(ev));
  std::memcpy(r.bytes.data() + sizeof(ev), tail.data(), tail.size());
  return r;
}

TEST(DecodeRawExec, EveryFieldFromKernelLayout) {
  RawExec raw = raw_exec("python3.11\0bin\0usr\0"s, 3, "run-7\0alice\0home\0"s, 3, "/usr/bin/python3\0"s,
                         "python3\0-m\0torch.distributed.run\0"s);
  auto r = decode(raw.bytes);
  Exec x = as<Exec>(r);
  EXPECT_EQ(x.hdr.kind, Kind::kExec);
  EXPECT_EQ(x.hdr.ts_ns, 999'000'000'123ull);
  EXPECT_EQ(x.hdr.job_id, job_id_for(4000, sec(30)));
  EXPECT_EQ(x.hdr.cgroup_id, 0x77u);
  EXPECT_EQ(x.hdr.task.tgid, 4001u);
  EXPECT_EQ(x.hdr.task.start_ns, sec(31) + 17);
  EXPECT_EQ(x.hdr.task.start_ticks(), 3100u);
  EXPECT_EQ(x.hdr.tid, 4001u);
  EXPECT_EQ(x.hdr.cpu, 1u);
  EXPECT_EQ(x.parent.tgid, 4000u);
  EXPECT_EQ(x.parent.start_ns, sec(30));
  EXPECT_EQ(x.uid, 1000u);
  EXPECT_EQ(x.gid, 100u);
  EXPECT_EQ(x.euid, 1000u);
  EXPECT_EQ(x.egid, 100u);
  EXPECT_EQ(x.exe, "/usr/bin/python3.11");  // leaf first in the record, root first here
  EXPECT_EQ(x.cwd, "/home/alice/run-7");
  EXPECT_EQ(x.filename, "/usr/bin/python3");
  EXPECT_EQ(x.args, (std::vector<std::string>{"python3", "-m", "torch.distributed.run"}));
  EXPECT_EQ(x.argc, 3u);
  EXPECT_TRUE(x.exe_flags.deleted);
  EXPECT_FALSE(x.exe_flags.internal);
  EXPECT_FALSE(x.exe_flags.truncated);
  EXPECT_TRUE(x.cwd_flags.internal);
  EXPECT_FALSE(x.cwd_flags.deleted);
  EXPECT_TRUE(x.args_truncated);
  EXPECT_FALSE(x.job_started);
  EXPECT_FALSE(x.joined_by_cgroup);
  EXPECT_EQ(x.policy, ~0u);
}

TEST(DecodeRawExec, LauncherFlagsAndPolicy) {
  RawExec raw = raw_exec("torchrun\0bin\0"s, 2, ""s, 0, "torchrun\0"s, "torchrun\0"s);
  raw.ev()->flags = FTS_EXEC_JOB_STARTED | FTS_EXEC_JOINED_BY_CGROUP;
  raw.ev()->policy = 0;
  Exec x = as<Exec>(decode(raw.bytes));
  EXPECT_TRUE(x.job_started);
  EXPECT_TRUE(x.joined_by_cgroup);
  EXPECT_FALSE(x.args_truncated);
  EXPECT_EQ(x.policy, 0u);
  EXPECT_EQ(x.exe, "/bin/torchrun");
  EXPECT_EQ(x.cwd, "/");  // an empty encoded path is the root
}

TEST(DecodeRawExec, ArgsCutWithoutFinalNulKeepPartialLastArg) {
  RawExec raw = raw_exec("sh\0bin\0"s, 2, "tmp\0"s, 1, "/bin/sh\0"s, "sh\0-c\0echo hel"s);
  Exec x = as<Exec>(decode(raw.bytes));
  EXPECT_EQ(x.args, (std::vector<std::string>{"sh", "-c", "echo hel"}));
}

TEST(DecodeRawExec, FilenameWithoutNulIsKeptWhole) {
  RawExec raw = raw_exec("sh\0bin\0"s, 2, "tmp\0"s, 1, "/bin/sh"s, ""s);
  Exec x = as<Exec>(decode(raw.bytes));
  EXPECT_EQ(x.filename, "/bin/sh");
  EXPECT_TRUE(x.args.empty());
}

TEST(DecodeRawExec, StringLengthsPastTheEndAreAnError) {
  RawExec raw = raw_exec("sh\0bin\0"s, 2, "tmp\0"s, 1, "/bin/sh\0"s, "sh\0"s);
  raw.ev()->args_len += 1;  // one byte more than the record holds
  auto r = decode(raw.bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("past its end"), std::string::npos) << r.error();

  RawExec big = raw_exec("sh\0bin\0"s, 2, "tmp\0"s, 1, "/bin/sh\0"s, "sh\0"s);
  big.ev()->exe_len = 0xffff;
  EXPECT_FALSE(decode(big.bytes).ok());
}

TEST(DecodeRawExec, HeaderSizeBoundsTheStrings) {
  // The buffer holds more (the next record), but the header says where this
  // one ends: a string reaching past hdr.size is an error.
  RawExec raw = raw_exec("sh\0bin\0"s, 2, "tmp\0"s, 1, "/bin/sh\0"s, "sh\0"s);
  raw.bytes.insert(raw.bytes.end(), 64, 'x');
  raw.ev()->args_len += 10;
  EXPECT_FALSE(decode(raw.bytes).ok());
}

TEST(DecodeRawExec, DepthShorterThanComponentsKeepsTheLeaf) {
  // The kernel stops after FTS_PATH_DEPTH components and sets TRUNCATED; the
  // decoder shows the deepest part it has.
  RawExec raw = raw_exec("c\0b\0a\0"s, 2, ""s, 0, "\0"s, ""s);
  raw.ev()->flags = FTS_PATH_TRUNCATED;
  Exec x = as<Exec>(decode(raw.bytes));
  EXPECT_EQ(x.exe, "/b/c");
  EXPECT_TRUE(x.exe_flags.truncated);
}

// --- malformed input ---

TEST(DecodeMalformed, ShorterThanHeader) {
  std::vector<uint8_t> b(sizeof(fts_event_header) - 1, 0);
  b[0] = FTS_EV_EXIT;
  auto r = decode(b);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("shorter than a header"), std::string::npos) << r.error();
  EXPECT_FALSE(decode(std::span<const uint8_t>()).ok());
}

TEST(DecodeMalformed, UnknownKinds) {
  for (uint32_t kind : {0u, uint32_t(FTS_EV_KIND_MAX), 99u, 0xffffffffu}) {
    auto bytes = build(fts::testing::exit_of(task(1, sec(1))));
    std::memcpy(bytes.data(), &kind, sizeof(kind));
    auto r = decode(bytes);
    ASSERT_FALSE(r.ok()) << kind;
    EXPECT_NE(r.error().find("unknown record kind"), std::string::npos) << r.error();
  }
}

TEST(DecodeMalformed, SizeLargerThanBuffer) {
  auto bytes = build(fts::testing::fork_of(task(2, sec(2)), task(1, sec(1))));
  auto* h = reinterpret_cast<fts_event_header*>(bytes.data());
  h->size = bytes.size() + 1;
  auto r = decode(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("more bytes than it has"), std::string::npos) << r.error();
}

TEST(DecodeMalformed, SizeSmallerThanFixedPart) {
  for (const auto& bytes : {build(fts::testing::fork_of(task(2, sec(2)), task(1, sec(1)))),
                            build(fts::testing::exit_of(task(2, sec(2)))),
                            build(fts::testing::exec_of(task(2, sec(2)), task(1, sec(1)), "/bin/x", {"x"})),
                            build(Cgroup{full_header(Kind::kCgroupMkdir), 1, 1, "/a"})}) {
    auto copy = bytes;
    auto* h = reinterpret_cast<fts_event_header*>(copy.data());
    h->size = sizeof(fts_event_header);
    EXPECT_FALSE(decode(copy).ok()) << "kind " << h->kind;
    h->size = 0;
    EXPECT_FALSE(decode(copy).ok()) << "kind " << h->kind;
  }
}

TEST(DecodeMalformed, CgroupPathPastTheEnd) {
  auto bytes = build(Cgroup{full_header(Kind::kCgroupAttach), 5, 1, "/a/b"});
  reinterpret_cast<fts_cgroup_event*>(bytes.data())->path_len = 100;
  auto r = decode(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("path runs past its end"), std::string::npos) << r.error();
}

TEST(DecodeMalformed, EveryPrefixOfARecordIsRefused) {
  auto bytes = build(fts::testing::exec_of(task(2, sec(2)), task(1, sec(1)), "/usr/bin/python3",
                                           {"python3", "train.py"}));
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(decode(std::span<const uint8_t>(bytes.data(), n)).ok()) << "prefix " << n;
  EXPECT_TRUE(decode(bytes).ok());
}

TEST(DecodeMalformed, RandomCorruptionNeverCrashes) {
  std::mt19937 rng(12345);
  const std::vector<std::vector<uint8_t>> seeds = {
      build(fts::testing::exec_of(task(2, sec(2)), task(1, sec(1)), "/a/b/c", {"c", "--x"})),
      build(fts::testing::fork_of(task(2, sec(2)), task(1, sec(1)))),
      build(Cgroup{full_header(Kind::kCgroupMkdir), 1, 1, "/a"}),
  };
  size_t decoded = 0;
  for (int i = 0; i < 3000; ++i) {
    auto bytes = seeds[i % seeds.size()];
    for (int k = 0; k < 4; ++k) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    auto r = decode(bytes);
    if (r.ok()) {
      ++decoded;
      // Whatever decodes is internally consistent: its kind is one we know.
      auto kind = static_cast<uint32_t>(header(*r).kind);
      EXPECT_GE(kind, 1u);
      EXPECT_LT(kind, uint32_t(FTS_EV_KIND_MAX));
    }
  }
  EXPECT_GT(decoded, 0u);  // corruption of payload bytes alone still decodes
}

// --- paths and ids ---

TEST(PathFromComponents, Cases) {
  EXPECT_EQ(path_from_components("", 0), "/");
  EXPECT_EQ(path_from_components("b\0a\0"s, 0), "/");
  EXPECT_EQ(path_from_components("b\0a\0"s, 2), "/a/b");
  EXPECT_EQ(path_from_components("b\0a"s, 2), "/a/b");  // no final NUL
  EXPECT_EQ(path_from_components("c\0b\0a\0"s, 2), "/b/c");
  EXPECT_EQ(path_from_components("b\0a\0"s, 48), "/a/b");  // depth larger than what is there
  EXPECT_EQ(path_from_components("with space\0dir\0"s, 2), "/dir/with space");
}

TEST(JobId, MatchesTheKernelFormula) {
  EXPECT_EQ(job_id_for(1234, sec(5)), fts_job_id(1234, sec(5)));
  uint64_t id = job_id_for(1234, sec(5));
  EXPECT_EQ(id & 0x3fffff, 1234u);            // the pid sits in the low 22 bits
  EXPECT_EQ(id & kCgroupJobBit, 0u);          // a run/exec job never looks like a cgroup job
  EXPECT_EQ(job_id_for(7, ~0ull) & kCgroupJobBit, 0u);
  EXPECT_NE(job_id_for(1234, sec(5)), job_id_for(1235, sec(5)));
  EXPECT_LT(job_id_for(9999, sec(5)), job_id_for(1, sec(6)));  // ids sort by start time
}

}  // namespace
}  // namespace fts::decode
