#pragma once
// What one journal record says, in parts the text tables, the HTML report and
// the analysis share (internal to journal/).
#include <string>

#include "common/v1.h"
#include "ftsentinel/v1/event.pb.h"
#include "ftsentinel/v1/journal.pb.h"

namespace fts::journal {

// One line saying what a record is.
std::string summarize(const v1::TimelineEntry& t);

// The process a record is about: the alert's or the event's.
uint32_t subject_pid(const v1::TimelineEntry& t);

// The content digest of a file_hash event (false: none).
bool read_file_hash(const v1::Event& e, v1::DataFile* out);

// "addr:port", "[v6]:port".
std::string endpoint(const std::string& addr, uint32_t port);

std::string join(const google::protobuf::RepeatedPtrField<std::string>& v, const char* sep);

}  // namespace fts::journal
