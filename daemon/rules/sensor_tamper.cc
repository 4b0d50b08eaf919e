// sensor-tamper, from records: another process signals the daemon, or takes
// one of its maps by the pin (bpf(BPF_OBJ_GET) on the pin dir). Lost records
// (the sensor's drop counters, an output's full spool) are said by the alert
// builders at the end, which the daemon's loss watch calls: every
// sensor-tamper alert is built in this file.
//
// Signals: SIGHUP is how an operator asks for a reload (info). SIGKILL and
// the stops blind the sensor (high); SIGTERM/SIGINT/SIGQUIT end it, as a
// service stop also does (medium); SIGCONT resumes a stopped daemon (low);
// the rest (SIGUSR1, …) have no use from outside (medium). Signals the
// kernel raises (SIGCHLD, SIGPIPE, faults) and the daemon's own never reach here.
#include <csignal>
#include <cstring>
#include <memory>

#include "common/time.h"
#include "rules/rules.h"

namespace fts::rules {
namespace {

std::string signal_name(uint32_t sig) {
  const char* abbrev = sigabbrev_np(static_cast<int>(sig));
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

const char* signal_severity(uint32_t sig) {
  switch (sig) {
    case SIGHUP: return "info";
    case SIGKILL: case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU: return "high";
    case SIGCONT: return "low";
    default: return "medium";
  }
}

class SensorTamper : public Rule {
 public:
  const char* id() const override { return "sensor-tamper"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kSensor}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& t = std::get<decode::SensorTouch>(in.record);
    std::string who = (in.process && !in.process->exe.empty() ? in.process->exe : "?") + " (pid " +
                      std::to_string(t.hdr.task.tgid) + ")";
    if (t.op == decode::SensorOp::kSignal) {
      std::string name = signal_name(t.arg);
      std::string why = t.arg == SIGHUP ? ": a reload request" : "";
      // The service manager stopping or reloading the service is routine:
      // said (the SIEM sees every stop), at the lowest severity.
      bool routine = t.hdr.task.tgid == 1 && (t.arg == SIGTERM || t.arg == SIGHUP);
      if (routine && t.arg == SIGTERM) why = ": the service manager stopping the service";
      out->push_back({id(), routine ? "info" : signal_severity(t.arg),
                      who + " sent " + name + " to ftsentineld (pid " + std::to_string(t.target) + ")" + why, name});
      return;
    }
    out->push_back({id(), "high",
                    who + " took ftsentinel's pinned map " + t.name + " (id " + std::to_string(t.arg) +
                        ") with bpf(BPF_OBJ_GET): it can read or rewrite what the sensor decides by",
                    "map:" + t.name});
  }
};

}  // namespace

std::unique_ptr<Rule> make_sensor_tamper() { return std::make_unique<SensorTamper>(); }

namespace {

v1::Alert loss_alert(std::string message) {
  v1::Alert a;
  a.set_time(rfc3339(now_wall_ns()));
  a.set_rule("sensor-tamper");
  a.set_severity("high");
  a.set_action("alerted");
  a.set_message(std::move(message));
  for (const char* t : catalogue("sensor-tamper")->attack) a.mutable_mitre()->add_attack(t);
  return a;
}

}  // namespace

v1::Alert control_alert(const std::string& severity, std::string message) {
  v1::Alert a = loss_alert(std::move(message));
  a.set_severity(severity);
  return a;
}

v1::Alert sensor_loss_alert(uint64_t lost, uint64_t total, const std::string& why) {
  return loss_alert(why + ": " + std::to_string(lost) + " records lost (" + std::to_string(total) + " since start)");
}

v1::Alert output_loss_alert(const std::string& output, const std::string& target, uint64_t lost,
                            uint64_t dropped_total, bool journal) {
  // Journal loss: the forensic record of a run has a hole.
  if (journal)
    return loss_alert("journal loss: " + std::to_string(lost) + " records did not reach the journal " + target +
                      " (writer queue full or write failed; " + std::to_string(dropped_total) +
                      " dropped in total)");
  return loss_alert("output " + output + " (" + target + ") dropped " + std::to_string(lost) +
                    " undelivered records, oldest first: its spool was full (" + std::to_string(dropped_total) +
                    " in total)");
}

}  // namespace fts::rules
