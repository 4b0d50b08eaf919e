#pragma once
// A small streaming JSON writer for the renderings that are not a proto's own
// JSON (OCSF, Splunk HEC envelopes, metrics-free batches). Commas and escaping
// are its business; the shape is the caller's.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "render/json.h"

namespace fts::sinks {

class JsonWriter {
 public:
  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }
  JsonWriter& key(std::string_view k) {
    comma();
    quote(k);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  JsonWriter& value(std::string_view v) {
    comma();
    quote(v);
    return *this;
  }
  JsonWriter& value(const char* v) { return value(std::string_view(v)); }
  JsonWriter& value(const std::string& v) { return value(std::string_view(v)); }
  JsonWriter& value(uint64_t v) { return raw(std::to_string(v)); }
  JsonWriter& value(int64_t v) { return raw(std::to_string(v)); }
  JsonWriter& value(uint32_t v) { return raw(std::to_string(v)); }
  JsonWriter& value(int v) { return raw(std::to_string(v)); }
  JsonWriter& value(bool v) { return raw(v ? "true" : "false"); }
  // Already-serialized JSON (a proto's own rendering).
  JsonWriter& raw(std::string_view json) {
    comma();
    out_ += json;
    return *this;
  }
  // key + value, skipped when the value is empty: absent beats "".
  JsonWriter& field(std::string_view k, std::string_view v) {
    if (!v.empty()) key(k).value(v);
    return *this;
  }
  JsonWriter& field(std::string_view k, const std::string& v) { return field(k, std::string_view(v)); }
  JsonWriter& field(std::string_view k, const char* v) { return field(k, std::string_view(v)); }
  template <typename N>
  JsonWriter& number(std::string_view k, N v) {
    return key(k).value(v);
  }
  std::string take() { return std::move(out_); }
  const std::string& str() const { return out_; }

  // The one escaper of render/ (bytes that are not UTF-8 as "\\xNN" text): a
  // raw byte >= 0x80 here made a whole OCSF batch invalid JSON.
  static void escape(std::string_view s, std::string* out) { render::append_escaped(s, out); }

 private:
  JsonWriter& open(char c) {
    comma();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  JsonWriter& close(char c) {
    out_ += c;
    if (!first_.empty()) first_.pop_back();
    return *this;
  }
  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
  }
  void quote(std::string_view s) {
    out_ += '"';
    escape(s, &out_);
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

}  // namespace fts::sinks
