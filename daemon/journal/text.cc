// The journal's human tables: runs, a run's review, its timeline, verify.
#include <cstdio>
#include <map>

#include "journal/review.h"
#include "journal/summary.h"

namespace fts::journal {
namespace {

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) snprintf(buf, sizeof(buf), "%.1f GiB", static_cast<double>(b) / (1ull << 30));
  else if (b >= (1ull << 20)) snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(b) / (1ull << 20));
  else if (b >= 1024) snprintf(buf, sizeof(buf), "%.1f KiB", static_cast<double>(b) / 1024);
  else snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

}  // namespace

std::string format_runs(const std::vector<v1::RunSummary>& runs) {
  std::string out;
  char line[512];
  snprintf(line, sizeof(line), "%-16s  %-16s  %-20s  %-27s  %-27s  %6s  %7s  %6s\n", "JOB", "POLICY", "NAME", "STARTED",
           "ENDED", "EXIT", "RECORDS", "ALERTS");
  out += line;
  for (const auto& r : runs) {
    std::string exit = r.has_exit_signal() && r.exit_signal() ? "sig" + std::to_string(r.exit_signal())
                       : r.has_exit_code()                     ? std::to_string(r.exit_code())
                                                               : "-";
    snprintf(line, sizeof(line), "%-16s  %-16s  %-20s  %-27s  %-27s  %6s  %7llu  %6llu\n", r.job().id().c_str(),
             r.job().policy().c_str(), r.job().name().c_str(), r.job().start_time().c_str(),
             r.job().end_time().empty() ? (r.job().id().rfind("host-", 0) == 0 ? "" : "(running)") : r.job().end_time().c_str(),
             exit.c_str(), static_cast<unsigned long long>(r.records()), static_cast<unsigned long long>(r.alerts()));
    out += line;
  }
  return out;
}

std::string format_run_groups(const std::vector<v1::RunGroup>& groups) {
  std::string out;
  char line[512];
  snprintf(line, sizeof(line), "%-40s  %-27s  %7s  %6s  %s\n", "RUN", "STARTED", "RECORDS", "ALERTS", "HOSTS / JOBS");
  out += line;
  for (const auto& g : groups) {
    snprintf(line, sizeof(line), "%-40s  %-27s  %7llu  %6llu  %s / %s\n", g.run().c_str(), g.first_start().c_str(),
             static_cast<unsigned long long>(g.records()), static_cast<unsigned long long>(g.alerts()),
             join(g.hosts(), ",").c_str(), join(g.jobs(), ",").c_str());
    out += line;
  }
  return out;
}

namespace {
void format_tree(const v1::ProcessNode& n, const std::string& indent, bool last, bool top, std::string* out) {
  std::string line = indent + (top ? "" : (last ? "`- " : "|- ")) + std::to_string(n.pid()) + " " + n.exe();
  if (n.has_rank()) line += "  rank " + std::to_string(n.rank());
  std::string args = join(n.args(), " ");
  if (!args.empty()) line += "  [" + args + "]";
  if (n.has_exit_signal() && n.exit_signal()) line += "  (signal " + std::to_string(n.exit_signal()) + ")";
  else if (n.has_exit_code()) line += "  (exit " + std::to_string(n.exit_code()) + ")";
  if (n.alerts()) line += "  !" + std::to_string(n.alerts()) + " alert(s)";
  *out += "  " + line + "\n";
  std::string next = top ? indent : indent + (last ? "   " : "|  ");
  for (int i = 0; i < n.children_size(); ++i) format_tree(n.children(i), next, i + 1 == n.children_size(), false, out);
}

void format_files(const google::protobuf::RepeatedPtrField<v1::DataFile>& files, bool multi_host, std::string* out) {
  if (files.empty()) *out += "  (none)\n";
  for (const auto& d : files) {
    *out += "  " + (multi_host ? d.host() + ": " : "") + d.path();
    if (d.classes_size()) *out += "  [" + join(d.classes(), ",") + "]";
    if (d.hash_differs()) *out += "  HASH DIFFERS from " + join(d.other_hosts_sha256(), ", ");
    *out += "\n    sha256 " + (d.sha256().empty() ? std::string("(not hashed)") : d.sha256());
    if (!d.sha256().empty()) *out += "  " + std::to_string(d.size()) + " bytes";
    *out += "  first " + d.first_access() + "  last " + d.last_access();
    std::string pids;
    for (auto p : d.pids()) pids += (pids.empty() ? "" : ",") + std::to_string(p);
    if (!pids.empty()) *out += "  pids " + pids;
    *out += "\n";
  }
}
}  // namespace

std::string format_review(const v1::Review& r) {
  std::string out;
  const auto& run = r.run();
  const auto& j = run.job();
  if (!r.run_id().empty()) {
    out += "run " + r.run_id() + "  hosts " + join(r.hosts(), ", ") + "  jobs";
    for (const auto& x : r.jobs()) out += " " + x.job().id() + "@" + x.job().host();
    out += "\n";
  }
  out += "job " + j.id() + "  policy " + j.policy() + "  name " + j.name() + "  mode " + j.mode() + "  started by " +
         j.started_by() + "\n";
  out += "  started " + j.start_time() + "  ended " + (j.end_time().empty() ? "(running)" : j.end_time());
  if (run.has_exit_signal() && run.exit_signal()) out += "  killed by signal " + std::to_string(run.exit_signal());
  else if (run.has_exit_code()) out += "  exit " + std::to_string(run.exit_code());
  out += "\n  " + std::to_string(run.records()) + " records, " + std::to_string(r.alerts_size()) + " alerts\n";
  if (j.labels_size()) {
    out += "  labels:";
    std::map<std::string, std::string> sorted(j.labels().begin(), j.labels().end());
    for (const auto& [k, v] : sorted) out += " " + k + "=" + v;
    out += "\n";
  }
  out += "\nProcess tree\n";
  std::string host;
  for (int i = 0; i < r.processes_size(); ++i) {
    if (r.hosts_size() > 1 && r.processes(i).host() != host) out += " host " + (host = r.processes(i).host()) + "\n";
    format_tree(r.processes(i), "", i + 1 == r.processes_size(), true, &out);
  }
  out += "\nData read";
  std::string classes;
  for (const auto& c : r.read_by_class()) classes += (classes.empty() ? "" : ", ") + c.class_() + " " + std::to_string(c.files());
  out += classes.empty() ? "\n" : " (" + classes + ")\n";
  bool multi_host = r.hosts_size() > 1;
  format_files(r.read(), multi_host, &out);
  out += "\nOutputs written\n";
  format_files(r.written(), multi_host, &out);
  out += "\nNetwork destinations\n";
  if (r.peers().empty()) out += "  (none)\n";
  for (const auto& p : r.peers()) {
    out += "  " + (r.hosts_size() > 1 ? p.host() + ": " : "") + p.protocol() + " " + endpoint(p.daddr(), p.dport());
    if (p.dns_size()) out += " (" + join(p.dns(), ", ") + ")";
    out += "  " + std::to_string(p.bytes()) + " bytes sent (" + human_bytes(p.bytes()) + "), " +
           std::to_string(p.connects()) + " connect(s), " + p.verdict() + (p.action() == "blocked" ? ", blocked" : "") +
           "\n";
  }
  if (r.dns_size()) {
    out += "\nDNS names asked\n";
    for (const auto& d : r.dns()) out += "  " + d.name() + "  x" + std::to_string(d.queries()) + "  first " + d.first_time() + "\n";
  }
  out += "\nAlerts\n";
  if (r.alerts().empty()) out += "  (none)\n";
  for (const auto& a : r.alerts()) {
    out += "  " + a.time() + "  " + (r.hosts_size() > 1 ? a.host() + "  " : "") + a.severity() + "  " + a.rule() +
           (a.action() == "blocked" ? " (blocked)" : "") + "  pid " + std::to_string(a.process().pid()) + " " +
           a.process().exe() + "\n    " + a.message() + "\n";
  }
  for (const auto& v : r.verified()) out += "\n" + format_verify(v);
  return out;
}

std::string format_timeline(const v1::Timeline& t) {
  std::string out;
  for (const auto& e : t.entries()) {
    uint32_t pid = subject_pid(e);
    char head[128];
    snprintf(head, sizeof(head), "%-27s  %8llu  %-10s  %7u  ", e.time().c_str(), static_cast<unsigned long long>(e.seq()),
             e.kind().c_str(), pid);
    out += std::string(e.has_alert() ? "!" : " ") + head + summarize(e) + "\n";
  }
  return out;
}

std::string format_verify(const v1::VerifyReport& r) {
  std::string out;
  if (r.intact()) {
    out += "journal " + r.journal() + ": intact\n";
  } else {
    out += "journal " + r.journal() + ": TAMPERED\n";
    for (const auto& p : r.problems()) out += "  " + p.message() + "\n";
  }
  out += "  " + std::to_string(r.records()) + " records in " + std::to_string(r.runs()) + " runs; " +
         std::to_string(r.seals()) + " seals" + (r.last_seal().empty() ? "" : " (last " + r.last_seal() + ")") + "; " +
         std::to_string(r.pruned_runs()) + " runs dropped by retention\n";
  if (r.unsealed()) out += "  " + std::to_string(r.unsealed()) + " newest records not sealed yet (hash-chained only)\n";
  if (!r.macs_checked()) out += "  seal HMACs NOT checked: the journal key was not readable (--key FILE)\n";
  return out;
}

}  // namespace fts::journal
