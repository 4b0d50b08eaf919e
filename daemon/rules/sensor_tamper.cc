// sensor-tamper, from records: another process signals the daemon, takes an
// fd to one of its maps, programs or links (by its pin or by its id), or
// detaches or replaces one of its links. Lost records
// (the sensor's drop counters, an output's full spool) are said by the alert
// builders at the end, which the daemon's loss watch calls: every
// sensor-tamper alert is built in this file.
//
// Signals: SIGHUP is how an operator asks for a reload (info). SIGKILL and
// the stops blind the sensor (high); SIGTERM/SIGINT/SIGQUIT end it, as a
// service stop also does (medium); SIGCONT resumes a stopped daemon (low);
// the rest (SIGUSR1, …) have no use from outside (medium). Signals the
// kernel raises (SIGCHLD, SIGPIPE, faults) and the daemon's own never reach here.
#include <cctype>
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
    on_object(t, who, out);
  }

 private:
  // An fd to one of the daemon's maps, programs or links, or a change to a
  // link: a map can be read or rewritten, a link detached (the hook goes
  // quiet), a program pinned open past the daemon's life.
  void on_object(const decode::SensorTouch& t, const std::string& who, std::vector<Finding>* out) {
    std::string kind = decode::to_string(t.object);
    std::string what = "ftsentinel's " + std::string(t.object == decode::ObjType::kLink ? "link of program " : "") +
                       (t.object == decode::ObjType::kLink ? "" : kind + " ") + t.name + " (" + kind + " id " +
                       std::to_string(t.arg) + ")";
    std::string object = kind + ":" + t.name;
    switch (t.op) {
      case decode::SensorOp::kObjGet:
        if (t.object == decode::ObjType::kMap)  // the wording of a pinned map, as before
          what = "ftsentinel's pinned map " + t.name + " (id " + std::to_string(t.arg) + ")";
        out->push_back({id(), "high", who + " took " + what + " with bpf(BPF_OBJ_GET): " + consequence(t.object), object});
        return;
      case decode::SensorOp::kFdById:
        out->push_back({id(), "high",
                        who + " obtained an fd to " + what + " by its id (bpf(BPF_" + upper(kind) +
                            "_GET_FD_BY_ID)): " + consequence(t.object),
                        object});
        return;
      case decode::SensorOp::kLinkDetach:
      case decode::SensorOp::kLinkUpdate: {
        bool detach = t.op == decode::SensorOp::kLinkDetach;
        out->push_back({id(), "critical",
                        who + (t.result < 0 ? " tried to " : " ") + (detach ? "detach " : "replace the program behind ") +
                            what + " (bpf(BPF_LINK_" + (detach ? "DETACH" : "UPDATE") + ")" +
                            (t.result < 0 ? ", refused: " + std::to_string(t.result) : "") +
                            "): the hook stops reporting what it watched",
                        std::string(detach ? "detach:" : "update:") + object});
        return;
      }
      case decode::SensorOp::kSignal: return;
    }
  }

  static std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }

  static std::string consequence(decode::ObjType t) {
    switch (t) {
      case decode::ObjType::kMap: return "it can read or rewrite what the sensor decides by";
      case decode::ObjType::kProg: return "it can attach the sensor's program elsewhere or keep it loaded";
      case decode::ObjType::kLink: return "it can detach the sensor's hook";
    }
    return "";
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

v1::Alert tasks_full_alert(uint64_t refused, uint64_t total, uint32_t capacity) {
  return loss_alert("the tasks map is full (capacity " + std::to_string(capacity) + "): " + std::to_string(refused) +
                    " processes of jobs were not tracked (" + std::to_string(total) +
                    " since start); their opens and execs are unseen, their connects and sends are still judged by "
                    "their job's policy through their parents");
}

v1::Alert fanotify_overflow_alert(uint64_t overflows, uint64_t total) {
  return loss_alert("the fanotify queue overflowed " + std::to_string(overflows) + " time" +
                    (overflows == 1 ? "" : "s") + " (" + std::to_string(total) +
                    " since start): changes to protected and outputs trees were dropped unseen");
}

v1::Alert flows_evicted_alert(uint64_t evicted, uint64_t total) {
  return loss_alert("the flows map is full: " + std::to_string(evicted) +
                    " job flows were evicted before their sockets closed (" + std::to_string(total) +
                    " since start); the bytes they sent are not in the totals");
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

v1::Alert file_loss_alert(const std::string& output, const std::string& target, uint64_t lost,
                          uint64_t dropped_total, const std::string& error) {
  return loss_alert("output " + output + " (" + target + ") could not write " + std::to_string(lost) +
                    " records: " + (error.empty() ? "write failed" : error) + " (" + std::to_string(dropped_total) +
                    " lost in total)");
}

}  // namespace fts::rules
