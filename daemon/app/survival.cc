#include "app/survival.h"
#include "common/utf8.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace fts::app {
namespace {

// tmp + rename: a reader (the next daemon) sees the old registry or the new
// one, never half. No fsync: the jobs it names do not outlive the machine.
Status write_file(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return make_error("opening " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return make_error("writing " + tmp + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return make_error("renaming " + tmp + ": " + std::strerror(errno));
  return {};
}

}  // namespace

std::string saved_jobs_path(const Parts& p) { return p.cfg.daemon.state_dir() + "/jobs.pb"; }

void restore_jobs(Parts& p) {
  std::ifstream in(saved_jobs_path(p), std::ios::binary);
  if (!in) return;  // first start, or no job was running
  std::stringstream bytes;
  bytes << in.rdbuf();
  v1::JobRegistry saved;
  if (!parse_any_text(&saved, bytes.str())) {
    spdlog::error("{}: not a job registry; the jobs of the last run are not restored", saved_jobs_path(p));
    return;
  }
  for (const auto& s : saved.jobs()) {
    std::string why;
    const jobs::Job* j = p.jobs->restore(s, &why);
    if (!j) {
      spdlog::warn("job {} ({}) of the last run is not restored: {}", jobs::job_id_string(s.id()), s.name(), why);
      continue;
    }
    std::map<std::string, std::string> memory;
    for (const auto& [rule, m] : s.memory()) memory.emplace(rule, m);
    p.rules.recall(j->id, memory);
    spdlog::info("job {} ({}, policy {}) restored: {} live processes", jobs::job_id_string(j->id), j->name, j->policy,
                 j->live());
  }
  p.jobs_saved = bytes.str();
}

void save_jobs(Parts& p) {
  v1::JobRegistry r = p.jobs->saved();
  for (auto& s : *r.mutable_jobs())
    for (auto& [rule, memory] : p.rules.remembered(s.id())) (*s.mutable_memory())[rule] = memory;
  std::string bytes;
  {  // deterministic: maps in one order, so equal registries compare equal
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    r.SerializeToCodedStream(&coded);
  }
  if (bytes == p.jobs_saved) return;
  std::error_code ec;
  std::filesystem::create_directories(p.cfg.daemon.state_dir(), ec);
  if (auto st = write_file(saved_jobs_path(p), bytes); !st) {
    spdlog::error("saving the job registry: {} (a restart now would forget jobs)", st.error());
    return;
  }
  p.jobs_saved = std::move(bytes);
}

}  // namespace fts::app
