// JSON lines: one object per event, schema field names, appended to a file
// that only root and the group can read.
#include "sinks/sink.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>

#include <fstream>
#include <sstream>

#include "support/fixtures.h"

namespace fts::sinks {
namespace {

v1::Event event(uint64_t id, const std::string& kind) {
  v1::Event e;
  e.set_id(id);
  e.set_kind(kind);
  e.set_host("node-7");
  e.mutable_job()->set_id("00000000deadbeef");
  e.mutable_process()->set_pid(42);
  e.mutable_process()->add_args("python3");
  e.mutable_process()->add_args("train \"x\".py");
  e.mutable_job_info()->set_started_by("run");
  e.mutable_exit()->set_code(0);
  return e;
}

std::vector<std::string> lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(JsonLines, OneObjectPerLineWithSchemaNames) {
  std::string j = to_json(event(7, "exec"));
  EXPECT_EQ(j.find('\n'), std::string::npos);
  EXPECT_NE(j.find("\"kind\":\"exec\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"job_info\":{\"started_by\":\"run\"}"), std::string::npos) << j;
  EXPECT_NE(j.find("\"args\":[\"python3\",\"train \\\"x\\\".py\"]"), std::string::npos) << j;
  EXPECT_NE(j.find("\"code\":0"), std::string::npos) << "an exit code of 0 is still said: " << j;
}

TEST(JsonLines, FileSinkAppendsAndIsNotWorldReadable) {
  fts::testing::TempDir d;
  std::string path = d / "out/sub/events.jsonl";
  {
    auto s = JsonLinesSink::to_file(path);
    ASSERT_TRUE(s.ok()) << s.error();
    (*s)->write(event(1, "job_start"));
    (*s)->write(event(2, "exec"));
    (*s)->flush();
    EXPECT_EQ((*s)->written(), 2u);
    EXPECT_EQ(lines(path).size(), 2u) << "flushed lines are on disk";
  }
  {
    auto s = JsonLinesSink::to_file(path);
    ASSERT_TRUE(s.ok());
    (*s)->write(event(3, "exit"));
  }  // closing flushes
  auto ls = lines(path);
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_NE(ls[0].find("\"job_start\""), std::string::npos);
  EXPECT_NE(ls[2].find("\"exit\""), std::string::npos) << "a restart appends";
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(JsonLines, UnwritablePathIsAnError) {
  fts::testing::TempDir d;
  fts::testing::write_file(d / "file", "x");
  auto s = JsonLinesSink::to_file(d / "file/events.jsonl");  // a file where a directory should be
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("cannot open output"), std::string::npos) << s.error();
}

TEST(JsonLines, RotatesBySizeOnLineBoundariesAndKeepsMaxFiles) {
  fts::testing::TempDir d;
  std::string path = d / "alerts.jsonl";
  JsonLinesSink::Options o;
  o.max_bytes = 4096;
  o.max_files = 2;
  auto s = JsonLinesSink::to_file(path, o);
  ASSERT_TRUE(s.ok()) << s.error();
  v1::Alert a;
  a.set_rule("credential-read");
  a.set_message(std::string(300, 'm'));
  for (int i = 0; i < 60; ++i) {
    a.set_id("id-" + std::to_string(i));
    (*s)->write_alert(a);
  }
  (*s)->flush();
  EXPECT_TRUE(fts::testing::exists(path + ".1"));
  EXPECT_TRUE(fts::testing::exists(path + ".2"));
  EXPECT_FALSE(fts::testing::exists(path + ".3")) << "max_files bounds the disk";
  std::vector<std::string> all;
  for (const auto& f : {path + ".2", path + ".1", path}) {
    struct stat st {};
    ASSERT_EQ(stat(f.c_str(), &st), 0);
    EXPECT_LE(st.st_size, 4096) << f;
    EXPECT_EQ(st.st_mode & 0777, 0640u) << f;
    for (const auto& l : lines(f)) {
      EXPECT_EQ(l.front(), '{') << "whole lines only: " << f;
      EXPECT_EQ(l.back(), '}') << f;
      all.push_back(l);
    }
  }
  ASSERT_FALSE(all.empty());
  EXPECT_NE(all.back().find("\"id-59\""), std::string::npos) << "the newest is in the live file";
  // The kept files hold a contiguous, ordered tail of what was written.
  size_t first = std::stoul(all.front().substr(all.front().find("id-") + 3));
  for (size_t i = 0; i < all.size(); ++i)
    EXPECT_NE(all[i].find("\"id-" + std::to_string(first + i) + "\""), std::string::npos) << all[i];
}

TEST(JsonLines, AlertsUseTheConfiguredFormat) {
  fts::testing::TempDir d;
  JsonLinesSink::Options o;
  o.format = Format::kOcsf;
  auto s = JsonLinesSink::to_file(d / "a.jsonl", o);
  ASSERT_TRUE(s.ok());
  v1::Alert a;
  a.set_rule("shell-in-job");
  (*s)->write_alert(a);
  (*s)->flush();
  auto ls = lines(d / "a.jsonl");
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_NE(ls[0].find("\"class_uid\":2004"), std::string::npos) << ls[0];
}

TEST(JsonLines, ATornLastLineFromACrashIsCutAtOpen) {
  fts::testing::TempDir d;
  std::string path = d / "events.jsonl";
  fts::testing::write_file(path, to_json(event(1, "exec")) + "\n{\"id\":2,\"ki");  // killed mid-write
  {
    auto s = JsonLinesSink::to_file(path);
    ASSERT_TRUE(s.ok()) << s.error();
    (*s)->write(event(3, "exit"));
  }
  auto ls = lines(path);
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_NE(ls[0].find("\"exec\""), std::string::npos);
  EXPECT_NE(ls[1].find("\"exit\""), std::string::npos) << "the next record starts its own line: " << ls[1];
}

// RLIMIT_FSIZE fails writes past it (EFBIG), as a full disk does (ENOSPC).
TEST(JsonLines, AFullDiskCutsThePartialBatchCountsItAndWritesAgainLater) {
  fts::testing::TempDir d;
  std::string path = d / "events.jsonl";
  auto s = JsonLinesSink::to_file(path);
  ASSERT_TRUE(s.ok()) << s.error();
  (*s)->write(event(1, "exec"));
  (*s)->flush();
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit old {};
  getrlimit(RLIMIT_FSIZE, &old);
  struct rlimit r = old;
  r.rlim_cur = 1000;
  setrlimit(RLIMIT_FSIZE, &r);
  for (int i = 2; i < 30; ++i) (*s)->write(event(i, "exec"));
  (*s)->flush();
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  auto st = (*s)->stats();
  EXPECT_EQ(st.dropped, 28u);
  EXPECT_EQ(st.delivered, 1u);
  EXPECT_EQ((*s)->take_lost(), 28u);
  EXPECT_EQ((*s)->take_lost(), 0u) << "each loss reported once";
  EXPECT_NE(st.last_error.find("too large"), std::string::npos) << st.last_error;
  EXPECT_EQ(lines(path).size(), 1u) << "the partial batch was cut: whole lines only";
  (*s)->write(event(30, "exit"));
  (*s)->flush();
  auto ls = lines(path);
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_NE(ls[1].find("\"exit\""), std::string::npos);
}

}  // namespace
}  // namespace fts::sinks
