#pragma once
// The configured outputs, built from the daemon config: each one a sink with
// its own format and filter. Remote outputs spool under STATE_DIR/spool/NAME.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/v1.h"
#include "ftsentinel/v1/config.pb.h"
#include "sinks/sink.h"

namespace fts::sinks {

Result<std::vector<std::unique_ptr<Sink>>> make_sinks(const v1::DaemonConfig& c);

// One output (exposed for tests and the benchmark).
Result<std::unique_ptr<Sink>> make_sink(const v1::Output& o, const std::string& state_dir);

// Counts what passes, for the metrics endpoint: events by kind, alerts by
// rule. Written on the pipeline thread, read on the same thread.
class CountingSink : public Sink {
 public:
  void write(const v1::Event& e) override { events_by_kind_[e.kind()]++; }
  void write_alert(const v1::Alert& a) override {
    alerts_by_rule_[{a.rule(), a.severity()}]++;
    alerts_++;
  }
  void flush() override {}
  const std::map<std::string, uint64_t>& events_by_kind() const { return events_by_kind_; }
  const std::map<std::pair<std::string, std::string>, uint64_t>& alerts_by_rule() const { return alerts_by_rule_; }
  uint64_t alerts() const { return alerts_; }

 private:
  std::map<std::string, uint64_t> events_by_kind_;
  std::map<std::pair<std::string, std::string>, uint64_t> alerts_by_rule_;
  uint64_t alerts_ = 0;
};

}  // namespace fts::sinks
