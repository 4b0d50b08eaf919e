#pragma once
// Shared test helpers: a temp directory that cleans up after itself, file
// writing, and kernel records built from typed values (no kernel needed).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/build.h"
#include "decode/records.h"

namespace fts::testing {

// A fresh directory under the test temp dir, removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::path(::testing::TempDir()) / "fts-unit-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (!p) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// Writes `content` (binary-safe) to `path`, creating parent directories.
inline void write_file(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline bool exists(const std::string& path) { return std::filesystem::exists(path); }

// Boot-time ns on a whole tick, so /proc-style ticks and record ns agree.
constexpr uint64_t sec(uint64_t s) { return s * 1'000'000'000ull; }

inline decode::TaskId task(uint32_t tgid, uint64_t start_ns) { return decode::TaskId{tgid, start_ns}; }

inline decode::Header header(decode::Kind kind, decode::TaskId t, uint64_t job_id = 0, uint64_t ts_ns = 0) {
  decode::Header h;
  h.kind = kind;
  h.task = t;
  h.tid = t.tgid;
  h.job_id = job_id;
  h.ts_ns = ts_ns ? ts_ns : t.start_ns + 1000;
  h.cgroup_id = 0;
  h.cpu = 0;
  return h;
}

inline decode::Exec exec_of(decode::TaskId t, decode::TaskId parent, const std::string& exe,
                            std::vector<std::string> args, uint64_t job_id = 0) {
  decode::Exec e;
  e.hdr = header(decode::Kind::kExec, t, job_id);
  e.parent = parent;
  e.exe = exe;
  e.filename = exe;
  e.cwd = "/work";
  e.args = std::move(args);
  return e;
}

inline decode::Fork fork_of(decode::TaskId child, decode::TaskId parent, uint64_t job_id = 0) {
  decode::Fork f;
  f.hdr = header(decode::Kind::kFork, child, job_id);
  f.parent = parent;
  return f;
}

inline decode::Exit exit_of(decode::TaskId t, uint32_t status = 0, uint64_t job_id = 0) {
  decode::Exit x;
  x.hdr = header(decode::Kind::kExit, t, job_id);
  x.status = status;
  return x;
}

}  // namespace fts::testing
