#pragma once
// Where events go. A sink writes one rendered event at a time and is flushed
// after each batch the sensor delivers.
#include <cstdio>
#include <memory>
#include <string>

#include "common/result.h"
#include "common/v1.h"
#include "ftsentinel/v1/event.pb.h"

namespace fts::sinks {

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const v1::Event& e) = 0;
  virtual void flush() = 0;
};

// JSON lines, one object per event, to stdout or appended to a file.
class JsonLinesSink : public Sink {
 public:
  static std::unique_ptr<JsonLinesSink> to_stdout();
  static Result<std::unique_ptr<JsonLinesSink>> to_file(const std::string& path);
  ~JsonLinesSink() override;
  void write(const v1::Event& e) override;
  void flush() override;
  uint64_t written() const { return written_; }

 private:
  JsonLinesSink(FILE* f, bool owned) : f_(f), owned_(owned) {}
  FILE* f_;
  bool owned_;
  uint64_t written_ = 0;
  std::string buf_;
};

std::string to_json(const v1::Event& e);

}  // namespace fts::sinks
