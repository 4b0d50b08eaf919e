#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "sinks/sink.h"

namespace fts::sinks {

std::string to_json(const v1::Event& e) { return render(e, Format::kJson); }
std::string to_json(const v1::Alert& a) { return render(a, Format::kJson); }

namespace {

FILE* open_append(const std::string& path) {
  FILE* f = fopen(path.c_str(), "ae");
  if (f) chmod(path.c_str(), 0640);  // records name files and commands: not for everyone
  return f;
}

}  // namespace

std::unique_ptr<JsonLinesSink> JsonLinesSink::to_stdout(Options o) {
  if (o.name.empty()) o.name = "stdout";
  o.max_bytes = 0;
  return std::unique_ptr<JsonLinesSink>(new JsonLinesSink(stdout, false, "-", std::move(o), 0));
}

Result<std::unique_ptr<JsonLinesSink>> JsonLinesSink::to_file(const std::string& path, Options o) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  FILE* f = open_append(path);
  if (!f) return make_error("cannot open output " + path + ": " + std::strerror(errno));
  struct stat st {};
  uint64_t size = fstat(fileno(f), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (o.name.empty()) o.name = path;
  return std::unique_ptr<JsonLinesSink>(new JsonLinesSink(f, true, path, std::move(o), size));
}

JsonLinesSink::~JsonLinesSink() {
  if (!f_) return;
  flush();
  if (owned_) fclose(f_);
}

void JsonLinesSink::write(const v1::Event& e) { put(render(e, opts_.format)); }

void JsonLinesSink::write_alert(const v1::Alert& a) { put(render(a, opts_.format)); }

void JsonLinesSink::put(const std::string& line) {
  // Rotate on a record boundary, before the record that would cross the
  // limit, so every file holds whole lines.
  if (opts_.max_bytes && size_ > 0 && size_ + line.size() + 1 > opts_.max_bytes) rotate();
  if (!f_ && owned_) f_ = open_append(path_);  // a failed reopen is retried per record
  if (!f_) {
    ++failed_;
    return;
  }
  if (fwrite(line.data(), 1, line.size(), f_) != line.size() || fputc('\n', f_) == EOF) {
    ++failed_;
    last_error_ = std::strerror(errno);
    return;
  }
  size_ += line.size() + 1;
  ++written_;
}

void JsonLinesSink::rotate() {
  fclose(f_);
  f_ = nullptr;
  // PATH.N-1 -> PATH.N … PATH -> PATH.1; the oldest falls off the end.
  uint32_t keep = opts_.max_files ? opts_.max_files : 1;
  std::error_code ec;
  std::filesystem::remove(path_ + "." + std::to_string(keep), ec);
  for (uint32_t i = keep; i > 1; --i)
    std::filesystem::rename(path_ + "." + std::to_string(i - 1), path_ + "." + std::to_string(i), ec);
  std::filesystem::rename(path_, path_ + ".1", ec);
  if (ec) spdlog::warn("output {}: rotation: {}", path_, ec.message());
  f_ = open_append(path_);
  size_ = 0;
  if (!f_) {
    last_error_ = std::string("reopen after rotation: ") + std::strerror(errno);
    spdlog::error("output {}: {}", path_, last_error_);
  }
}

void JsonLinesSink::flush() {
  if (f_) fflush(f_);
}

SinkStats JsonLinesSink::stats() const {
  SinkStats s;
  s.name = opts_.name;
  s.type = owned_ ? "file" : "stdout";
  s.target = path_;
  s.connected = f_ != nullptr;
  s.written = written_;
  s.delivered = written_;
  s.failed = failed_;
  s.last_error = last_error_;
  return s;
}

}  // namespace fts::sinks
