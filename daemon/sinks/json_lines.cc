#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "sinks/sink.h"

namespace fts::sinks {

std::string to_json(const v1::Event& e) { return render(e, Format::kJson); }
std::string to_json(const v1::Alert& a) { return render(a, Format::kJson); }

namespace {

// Records wait here until the batch ends (the pipeline's flush) or this much is pending.
constexpr size_t kBufferBytes = 64 << 10;

int open_append(const std::string& path) {
  // Read too: a torn last line is found and cut at open.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd >= 0) fchmod(fd, 0640);  // records name files and commands: not for everyone
  return fd;
}

bool write_all(int fd, const std::string& buf) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

// A daemon killed in the middle of a write (SIGKILL, power loss) can leave the
// last record half written: cut it, so the file holds whole lines and the next
// record starts a line of its own. Returns the size kept.
uint64_t trim_torn_tail(int fd, const std::string& path) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size == 0) return 0;
  char buf[4096];
  for (off_t end = st.st_size; end > 0;) {
    off_t start = std::max<off_t>(0, end - static_cast<off_t>(sizeof buf));
    ssize_t n = pread(fd, buf, static_cast<size_t>(end - start), start);
    if (n <= 0) return static_cast<uint64_t>(st.st_size);
    for (ssize_t i = n - 1; i >= 0; --i) {
      if (buf[i] != '\n') continue;
      off_t keep = start + i + 1;
      if (keep < st.st_size && ftruncate(fd, keep) == 0)
        spdlog::warn("output {}: cut a torn last record of {} bytes (the daemon died while writing it)", path,
                     st.st_size - keep);
      return static_cast<uint64_t>(keep);
    }
    end = start;
  }
  return static_cast<uint64_t>(st.st_size);  // not one line: not ours to cut
}

}  // namespace

std::unique_ptr<JsonLinesSink> JsonLinesSink::to_stdout(Options o) {
  if (o.name.empty()) o.name = "stdout";
  o.max_bytes = 0;
  return std::unique_ptr<JsonLinesSink>(new JsonLinesSink(STDOUT_FILENO, false, "-", std::move(o), 0));
}

Result<std::unique_ptr<JsonLinesSink>> JsonLinesSink::to_file(const std::string& path, Options o) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  int fd = open_append(path);
  if (fd < 0) return make_error("cannot open output " + path + ": " + std::strerror(errno));
  uint64_t size = trim_torn_tail(fd, path);
  if (o.name.empty()) o.name = path;
  return std::unique_ptr<JsonLinesSink>(new JsonLinesSink(fd, true, path, std::move(o), size));
}

JsonLinesSink::~JsonLinesSink() {
  flush();
  if (owned_ && fd_ >= 0) ::close(fd_);
}

void JsonLinesSink::write(const v1::Event& e) { put(e); }

void JsonLinesSink::write_alert(const v1::Alert& a) { put(a); }

template <typename R>
void JsonLinesSink::put(const R& record) {
  size_t mark = buf_.size();
  render_to(record, opts_.format, &buf_);
  buf_ += '\n';
  // Rotate on a record boundary, before the record that would cross the
  // limit, so every file holds whole lines.
  uint64_t before = size_ + mark;
  if (opts_.max_bytes && before > 0 && size_ + buf_.size() > opts_.max_bytes) {
    std::string line = buf_.substr(mark);
    buf_.resize(mark);
    flush();
    rotate();
    buf_ += line;
  }
  ++pending_;
  ++written_;
  if (buf_.size() >= kBufferBytes) flush();
}

void JsonLinesSink::flush() {
  if (buf_.empty()) return;
  if (fd_ < 0 && owned_) {  // a failed reopen is retried per batch
    fd_ = open_append(path_);
    if (fd_ >= 0) size_ = trim_torn_tail(fd_, path_);
  }
  if (fd_ < 0) return lose(errno);
  if (!write_all(fd_, buf_)) {
    int err = errno;
    // A full disk takes part of a batch: cut it, so the file keeps whole lines.
    if (owned_ && ftruncate(fd_, static_cast<off_t>(size_)) != 0)
      spdlog::warn("output {}: cannot cut a partial write: {}", path_, std::strerror(errno));
    return lose(err);
  }
  size_ += buf_.size();
  delivered_ += pending_;
  buf_.clear();
  pending_ = 0;
}

void JsonLinesSink::lose(int err) {
  // Counted here, reported by the loss watch as an alert through every output.
  ++failed_;
  dropped_ += pending_;
  last_error_ = std::strerror(err);
  buf_.clear();
  pending_ = 0;
}

void JsonLinesSink::rotate() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  // PATH.N-1 -> PATH.N … PATH -> PATH.1; the oldest falls off the end.
  uint32_t keep = opts_.max_files ? opts_.max_files : 1;
  std::error_code ec;
  std::filesystem::remove(path_ + "." + std::to_string(keep), ec);
  for (uint32_t i = keep; i > 1; --i)
    std::filesystem::rename(path_ + "." + std::to_string(i - 1), path_ + "." + std::to_string(i), ec);
  std::filesystem::rename(path_, path_ + ".1", ec);
  if (ec) spdlog::warn("output {}: rotation: {}", path_, ec.message());
  fd_ = open_append(path_);
  size_ = 0;
  if (fd_ < 0) {
    last_error_ = std::string("reopen after rotation: ") + std::strerror(errno);
    spdlog::error("output {}: {}", path_, last_error_);
  }
}

SinkStats JsonLinesSink::stats() const {
  SinkStats s;
  s.name = opts_.name;
  s.type = owned_ ? "file" : "stdout";
  s.target = path_;
  s.connected = fd_ >= 0;
  s.written = written_;
  s.delivered = delivered_;
  s.failed = failed_;
  s.dropped = dropped_;
  s.queued = pending_;
  s.last_error = last_error_;
  return s;
}

uint64_t JsonLinesSink::take_lost() {
  uint64_t lost = dropped_ - lost_reported_;
  lost_reported_ = dropped_;
  return lost;
}

}  // namespace fts::sinks
