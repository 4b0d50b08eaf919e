#pragma once
// The native JSON of a record: the proto's fields by their schema names, in
// field-number order, proto3 defaults left out (as protobuf's own printer).
// Unlike protobuf's printer, 64-bit integers are JSON numbers: counters
// (bytes, total_bytes), inode numbers, devices and ids are numbers a SIEM can
// sum and compare. Strings that are not UTF-8 (file names and argv may be any
// bytes) keep every byte as "\xNN" text instead of being dropped.
#include <google/protobuf/message.h>

#include <string>

namespace fts::render {

void append_json(const google::protobuf::Message& m, std::string* out);
std::string json(const google::protobuf::Message& m);

// Appends `s` JSON-escaped (no quotes); bytes that are not UTF-8 as \xNN.
void append_escaped(std::string_view s, std::string* out);

}  // namespace fts::render
