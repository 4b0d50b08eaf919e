#pragma once
// Strings from the kernel and /proc (file names, argv, comm, DNS names) are
// whatever bytes a process chose; the schema's strings are proto3 `string`,
// which protobuf requires to be UTF-8 when it parses. These keep such bytes
// readable: as "\xNN" text, the way the JSON renderer prints them.
#include <google/protobuf/message.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace fts {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629 table 3-7), 0
// when it is not one: overlong forms, surrogates and code points past
// U+10FFFF are not UTF-8.
size_t utf8_len(std::string_view s, size_t i);
bool is_utf8(std::string_view s);

// `s` with each byte that is not part of well-formed UTF-8 as the four
// characters "\xNN".
std::string utf8_or_escaped(std::string_view s);

// Parses a message this daemon serialized. Where a string field holds bytes
// that are not UTF-8 (protobuf fails the whole parse on one), those bytes
// come back as "\xNN" text and the rest of the record as it was: a job that
// names its files in such bytes cannot make its records unreadable to the
// journal's replay, the CLI or a restart. false: not a message of this type.
bool parse_any_text(google::protobuf::Message* m, std::string_view wire);

// protobuf's own log lines into spdlog's, but one: a proto3 string that is
// not UTF-8 makes every serialization (the journal's rows, the renderer's
// wire form, a request) and the first parse above log an error. A job that
// names files in such bytes would flood the log with one line per record.
void route_protobuf_log();

}  // namespace fts
