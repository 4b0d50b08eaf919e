#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "sinks/sink.h"

namespace fts::sinks {

std::string to_json(const v1::Event& e) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(e, &out, opts);
  return out;
}

std::unique_ptr<JsonLinesSink> JsonLinesSink::to_stdout() {
  return std::unique_ptr<JsonLinesSink>(new JsonLinesSink(stdout, false));
}

Result<std::unique_ptr<JsonLinesSink>> JsonLinesSink::to_file(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  FILE* f = fopen(path.c_str(), "ae");
  if (!f) return make_error("cannot open output " + path + ": " + std::strerror(errno));
  chmod(path.c_str(), 0640);  // events name files and commands: not for everyone
  return std::unique_ptr<JsonLinesSink>(new JsonLinesSink(f, true));
}

JsonLinesSink::~JsonLinesSink() {
  flush();
  if (owned_) fclose(f_);
}

void JsonLinesSink::write(const v1::Event& e) {
  buf_ = to_json(e);
  buf_ += '\n';
  fwrite(buf_.data(), 1, buf_.size(), f_);
  ++written_;
}

void JsonLinesSink::flush() { fflush(f_); }

}  // namespace fts::sinks
