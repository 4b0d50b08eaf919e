// Decoding the records added for issue 5: LD_PRELOAD at exec, accesses to a
// job's memory, and touches of the daemon; malformed ones are refused.
#include <linux/types.h>

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "support/build.h"
#include "decode/records.h"
#include "support/fixtures.h"

extern "C" {
#include <ftsentinel/events.h>
}

namespace fts::decode {
namespace {

using fts::testing::task;

TEST(KernRecords, ExecCarriesLdPreload) {
  Exec e = fts::testing::exec_of(task(10, 5'000), task(1, 0), "/usr/bin/python3", {"python3", "x.py"}, 77);
  e.preload = "/usr/lib/x86_64-linux-gnu/libm.so.6";
  auto r = decode(build(e));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& x = std::get<Exec>(*r);
  EXPECT_EQ(x.preload, e.preload);
  EXPECT_FALSE(x.preload_truncated);
  EXPECT_EQ(x.args, (std::vector<std::string>{"python3", "x.py"})) << "args still end where they did";

  e.preload.clear();
  auto none = decode(build(e));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(std::get<Exec>(*none).preload.empty());
}

// The run variables follow the loader's, "NAME=value\0" each; a value with
// '=' in it keeps it, a string without '=' names nothing.
TEST(KernRecords, ExecCarriesTheRunVariablesAfterTheLoaders) {
  Exec e = fts::testing::exec_of(task(10, 5'000), task(1, 0), "/usr/bin/python3", {"python3", "x.py"}, 77);
  e.audit = "/tmp/audit.so";
  e.run_env = {{"SLURM_JOB_ID", "42"}, {"RANK", "3"}, {"TORCHELASTIC_RUN_ID", "a=b"}};
  auto r = decode(build(e));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& x = std::get<Exec>(*r);
  EXPECT_EQ(x.audit, "/tmp/audit.so");
  EXPECT_EQ(x.run_env, e.run_env);
  EXPECT_FALSE(x.run_env_truncated);

  auto raw = build(e);
  auto* rec = reinterpret_cast<fts_exec_event*>(raw.data());
  std::string junk = "NOEQUALS";
  rec->run_env_len += junk.size();
  rec->hdr.size += junk.size();
  rec->flags |= FTS_EXEC_RUN_ENV_TRUNCATED;
  raw.insert(raw.end(), junk.begin(), junk.end());  // no NUL: a string cut short
  auto cut = decode(raw);
  ASSERT_TRUE(cut.ok()) << cut.error();
  EXPECT_EQ(std::get<Exec>(*cut).run_env, e.run_env);
  EXPECT_TRUE(std::get<Exec>(*cut).run_env_truncated);

  e.run_env.clear();
  auto none = decode(build(e));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(std::get<Exec>(*none).run_env.empty());
}

TEST(KernRecords, ExecCarriesLdAuditAfterLdPreloadAndACutScan) {
  Exec e = fts::testing::exec_of(task(10, 5'000), task(1, 0), "/usr/bin/python3", {"python3", "x.py"}, 77);
  e.preload = "/tmp/a.so";
  e.audit = "/tmp/audit.so";
  e.env_truncated = true;
  auto r = decode(build(e));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& x = std::get<Exec>(*r);
  EXPECT_EQ(x.preload, "/tmp/a.so");
  EXPECT_EQ(x.audit, "/tmp/audit.so");
  EXPECT_TRUE(x.env_truncated);
  EXPECT_FALSE(x.audit_truncated);

  e.preload.clear();  // LD_AUDIT alone: its value is the first after argv
  e.env_truncated = false;
  auto only = decode(build(e));
  ASSERT_TRUE(only.ok()) << only.error();
  EXPECT_TRUE(std::get<Exec>(*only).preload.empty());
  EXPECT_EQ(std::get<Exec>(*only).audit, "/tmp/audit.so");
  EXPECT_FALSE(std::get<Exec>(*only).env_truncated);
}

TEST(KernRecords, ExecWhoseAuditRunsPastTheEndIsRefused) {
  Exec e = fts::testing::exec_of(task(10, 5'000), task(1, 0), "/bin/true", {"true"}, 77);
  e.audit = "/x.so";
  auto bytes = build(e);
  fts_exec_event raw;
  std::memcpy(&raw, bytes.data(), sizeof(raw));
  raw.audit_len = 60000;
  std::memcpy(bytes.data(), &raw, sizeof(raw));
  EXPECT_FALSE(decode(bytes).ok());
}

TEST(KernRecords, ExecWhosePreloadRunsPastTheEndIsRefused) {
  Exec e = fts::testing::exec_of(task(10, 5'000), task(1, 0), "/bin/true", {"true"}, 77);
  e.preload = "/x.so";
  auto bytes = build(e);
  fts_exec_event raw;
  std::memcpy(&raw, bytes.data(), sizeof(raw));
  raw.preload_len = 60000;
  std::memcpy(bytes.data(), &raw, sizeof(raw));
  EXPECT_FALSE(decode(bytes).ok());
}

TEST(KernRecords, AccessRoundTripsEveryField) {
  ProcessAccess a;
  a.hdr = fts::testing::header(Kind::kProcessAccess, task(200, 9'000), 0);
  a.op = AccessOp::kMemOpen;
  a.target = task(100, 1'000'000'000);
  a.target_job = 0x1234;
  a.target_tid = 101;
  a.result = -13;
  a.arg = 0x8000;
  auto bytes = build(a);
  ASSERT_EQ(bytes.size(), sizeof(fts_process_access_event));
  auto r = decode(bytes);
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& x = std::get<ProcessAccess>(*r);
  EXPECT_EQ(x.hdr.kind, Kind::kProcessAccess);
  EXPECT_EQ(x.hdr.task.tgid, 200u);
  EXPECT_EQ(x.op, AccessOp::kMemOpen);
  EXPECT_EQ(x.target.tgid, 100u);
  EXPECT_EQ(x.target.start_ns, 1'000'000'000u);
  EXPECT_EQ(x.target_job, 0x1234u);
  EXPECT_EQ(x.target_tid, 101u);
  EXPECT_EQ(x.result, -13);
  EXPECT_EQ(x.arg, 0x8000u);
  EXPECT_STREQ(to_string(x.op), "mem_open");
  EXPECT_EQ(ptrace_request_name(16), "attach");
  EXPECT_EQ(ptrace_request_name(0x4206), "seize");
  EXPECT_EQ(ptrace_request_name(99), "request 99");
}

TEST(KernRecords, SensorTouchRoundTrips) {
  SensorTouch t;
  t.hdr = fts::testing::header(Kind::kSensor, task(300, 9'000));
  t.op = SensorOp::kObjGet;
  t.arg = 42;
  t.result = 5;
  t.target = 77;
  t.name = "tasks";
  auto r = decode(build(t));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& x = std::get<SensorTouch>(*r);
  EXPECT_EQ(x.op, SensorOp::kObjGet);
  EXPECT_EQ(x.arg, 42u);
  EXPECT_EQ(x.result, 5);
  EXPECT_EQ(x.target, 77u);
  EXPECT_EQ(x.name, "tasks");
}

TEST(KernRecords, ShortOrUnknownOpsAreRefused) {
  ProcessAccess a;
  a.hdr = fts::testing::header(Kind::kProcessAccess, task(200, 9'000));
  auto bytes = build(a);
  fts_process_access_event raw;
  std::memcpy(&raw, bytes.data(), sizeof(raw));
  raw.op = FTS_ACCESS_OP_MAX;
  std::memcpy(bytes.data(), &raw, sizeof(raw));
  EXPECT_FALSE(decode(bytes).ok());

  SensorTouch t;
  t.hdr = fts::testing::header(Kind::kSensor, task(300, 9'000));
  auto sb = build(t);
  fts_sensor_event sraw;
  std::memcpy(&sraw, sb.data(), sizeof(sraw));
  sraw.op = 0;
  std::memcpy(sb.data(), &sraw, sizeof(sraw));
  EXPECT_FALSE(decode(sb).ok());

  // a header that claims the whole record, cut short
  auto whole = build(a);
  whole.resize(sizeof(fts_event_header) + 8);
  EXPECT_FALSE(decode(whole).ok());
}

TEST(KernRecords, SensorNameWithoutNulStaysInItsField) {
  SensorTouch t;
  t.hdr = fts::testing::header(Kind::kSensor, task(300, 9'000));
  t.op = SensorOp::kObjGet;
  auto bytes = build(t);
  fts_sensor_event raw;
  std::memcpy(&raw, bytes.data(), sizeof(raw));
  std::memset(raw.name, 'A', sizeof(raw.name));
  std::memcpy(bytes.data(), &raw, sizeof(raw));
  auto r = decode(bytes);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<SensorTouch>(*r).name, std::string(16, 'A'));
}

}  // namespace
}  // namespace fts::decode

// What the kernel keeps of a process outside the jobs at its exit: the exe
// the fanotify backstop names a writer by once /proc has forgotten it.
TEST(ExitedExe, PathAndStartOfAnExitedProcess) {
  fts_exited_exe x{};
  x.start_ns = 123 * FTS_NS_PER_TICK + 5;
  static constexpr char kLeafFirst[] = "mv\0bin\0usr";  // /usr/bin/mv, leaf first
  std::memcpy(x.path, kLeafFirst, sizeof(kLeafFirst));
  x.path_len = sizeof(kLeafFirst);
  x.path_depth = 3;
  auto r = fts::decode::decode_exited_exe(4242, {reinterpret_cast<const uint8_t*>(&x), sizeof(x)});
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->exe, "/usr/bin/mv");
  EXPECT_EQ(r->task.tgid, 4242u);
  EXPECT_EQ(r->task.start_ticks(), 123u);

  x.path_flags = FTS_PATH_TRUNCATED;
  EXPECT_FALSE(fts::decode::decode_exited_exe(4242, {reinterpret_cast<const uint8_t*>(&x), sizeof(x)}).ok())
      << "a path cut short names no executable";
  x.path_flags = 0;
  x.path_len = sizeof(x.path) + 1;
  EXPECT_FALSE(fts::decode::decode_exited_exe(4242, {reinterpret_cast<const uint8_t*>(&x), sizeof(x)}).ok());
  EXPECT_FALSE(fts::decode::decode_exited_exe(4242, {reinterpret_cast<const uint8_t*>(&x), sizeof(x) - 1}).ok());
}
