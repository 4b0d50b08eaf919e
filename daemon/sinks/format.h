#pragma once
// Renderings of one record: the native JSON of DESIGN.md (the proto's own
// JSON, field names kept), OCSF (Detection Finding for alerts, Process
// Activity for events), syslog RFC 5424, and the Splunk HEC envelope. All are
// views of the same proto.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/v1.h"
#include "ftsentinel/v1/alert.pb.h"
#include "ftsentinel/v1/event.pb.h"

namespace fts::sinks {

enum class Format { kJson, kOcsf, kRfc5424, kSplunkHec };

std::optional<Format> parse_format(std::string_view s);
const char* format_name(Format f);

// info=0 … critical=4; unknown or empty: -1 (below every threshold but
// still delivered by outputs without a min_severity).
int severity_rank(std::string_view severity);
bool valid_severity(std::string_view severity);

// One record as the format says. kRfc5424 is the whole syslog message
// (header, structured data, text); kSplunkHec is one HEC event object.
std::string render(const v1::Event& e, Format f);
std::string render(const v1::Alert& a, Format f);
// The same, appended to `out` (a sink's buffer): the native JSON is
// rendered in place, without a string of its own.
void render_to(const v1::Event& e, Format f, std::string* out);
void render_to(const v1::Alert& a, Format f, std::string* out);

// A syslog RFC 5424 message whose MSG is `body` (what the output's format
// rendered); the header and structured data come from the record.
std::string syslog_message(const v1::Event& e, const std::string& body);
std::string syslog_message(const v1::Alert& a, const std::string& body);

// A fresh alert id: 128 random bits as a UUID (version 4), unique across
// hosts and restarts without coordination.
std::string make_alert_id();

// "2026-11-27T21:40:28.873771Z" -> ms since the epoch (0 when unparsable).
int64_t rfc3339_to_ms(std::string_view t);

}  // namespace fts::sinks
