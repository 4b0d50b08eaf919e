// ftsentinel: the command line of the sentinel.
//   ftsentinel run --policy NAME [--name JOB] -- CMD ARGS...
//   ftsentinel status [--json]
//   ftsentinel jobs [--all] [--json]
//   ftsentinel alert-test [--count N] [--severity S] [--message TEXT]
//   ftsentinel reload [--json]
//   ftsentinel sync [--timeout MS] [--settle] [--json]
//   ftsentinel runs | review JOB [--timeline] | export JOB | report JOB -o F | verify  (cli/journal_cmds.h)
// Global: --socket PATH (else $FTSENTINEL_SOCKET, else /run/ftsentinel/control.sock)
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli/journal_cmds.h"
#include "control/protocol.h"
#include "common/utf8.h"
#include "common/v1.h"
#include "ftsentinel/v1/control.pb.h"

namespace {

using fts::control::Client;

struct Args {
  std::string socket;
  std::string command;
  std::vector<std::string> rest;
};

int usage() {
  fprintf(stderr,
          "usage: ftsentinel [--socket PATH] COMMAND\n"
          "  run --policy NAME [--name JOB] [--run-id ID] -- CMD [ARGS...]   run CMD as a watched job\n"
          "  status [--json]                                  the daemon's state\n"
          "  jobs [--all] [--json]                            live (or all remembered) jobs\n"
          "  alert-test [--count N] [--severity S] [--message TEXT]\n"
          "                                                   send test alerts to every output (SIEM check)\n"
          "  reload [--json]                                  load the config and policies anew (like SIGHUP);\n"
          "                                                   on any error the running policies stay\n"
          "  sync [--timeout MS] [--settle] [--json]          return once everything the kernel reported so far\n"
          "                                                   went through rules and outputs (a barrier)\n"
          "  runs [--journal FILE] [--json]                   journaled jobs, newest first, with alert counts\n"
          "  review JOB [--json]                              process tree, data read/written, peers, alerts\n"
          "  review JOB --timeline [--kind K] [--pid P] [--since T] [--until T] [--json]\n"
          "  export JOB [--format jsonl|ocsf] [-o FILE]       the run's records, one per line\n"
          "  export JOB --format cyclonedx [-o FILE]          the run's observed ML-BOM (CycloneDX 1.6 JSON)\n"
          "  report JOB -o FILE.html                          one self-contained HTML page\n"
          "  verify [--journal FILE] [--key FILE] [--json]    check the journal's hash chains and seals\n"
          "  (journal commands: --journal FILE, else the running daemon's, else /var/lib/ftsentinel/journal.db)\n");
  return 2;
}

fts::Result<fts::v1::Response> call(const std::string& socket, const fts::v1::Request& req) {
  auto c = Client::connect(fts::control::socket_path(socket));
  if (!c) return fts::make_error(c.error());
  fts::v1::Response resp;
  if (auto st = c->call(req, &resp); !st) return fts::make_error(st.error());
  if (!resp.ok()) return fts::make_error(resp.error());
  return resp;
}

void print_json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  printf("%s", out.c_str());
}

int cmd_run(const Args& a) {
  std::string policy, name, run_id;
  size_t i = 0;
  for (; i < a.rest.size(); ++i) {
    const std::string& s = a.rest[i];
    if (s == "--policy" && i + 1 < a.rest.size()) policy = a.rest[++i];
    else if (s == "--name" && i + 1 < a.rest.size()) name = a.rest[++i];
    else if (s == "--run-id" && i + 1 < a.rest.size()) run_id = a.rest[++i];
    else if (s == "--") {
      ++i;
      break;
    } else {
      fprintf(stderr, "ftsentinel run: unexpected '%s' (the command follows --)\n", s.c_str());
      return 2;
    }
  }
  std::vector<std::string> cmd(a.rest.begin() + static_cast<long>(i), a.rest.end());
  if (policy.empty() || cmd.empty()) {
    fprintf(stderr, "usage: ftsentinel run --policy NAME [--name JOB] [--run-id ID] -- CMD [ARGS...]\n");
    return 2;
  }
  fts::v1::Request req;
  auto* r = req.mutable_register_job();
  r->set_policy(policy);
  r->set_name(name);
  r->set_run_id(run_id);
  for (const auto& c : cmd) r->add_argv(c);
  auto resp = call(a.socket, req);
  if (!resp) {
    // Never run the command unwatched.
    fprintf(stderr, "ftsentinel run: %s; not starting %s\n", resp.error().c_str(), cmd[0].c_str());
    return 125;
  }
  const auto& reply = resp->register_job();
  if (reply.nested())
    fprintf(stderr,
            "ftsentinel: job %s (policy %s): already in that job, %s runs in it (a job cannot change its policy; "
            "reported)\n",
            reply.job_id().c_str(), reply.policy().c_str(), cmd[0].c_str());
  else
    fprintf(stderr, "ftsentinel: job %s (policy %s)\n", reply.job_id().c_str(), policy.c_str());
  std::vector<char*> argv;
  for (const auto& c : cmd) argv.push_back(const_cast<char*>(c.c_str()));
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  fprintf(stderr, "ftsentinel run: cannot execute %s: %s\n", cmd[0].c_str(), std::strerror(errno));
  return errno == ENOENT ? 127 : 126;
}

int cmd_status(const Args& a) {
  bool json = false;
  for (const auto& s : a.rest) {
    if (s == "--json") json = true;
    else return usage();
  }
  fts::v1::Request req;
  req.mutable_status();
  auto resp = call(a.socket, req);
  if (!resp) {
    fprintf(stderr, "ftsentinel status: %s\n", resp.error().c_str());
    return 1;
  }
  const auto& s = resp->status();
  if (json) {
    print_json(s);
    return 0;
  }
  printf("ftsentineld %s, pid %u, up since %s\n", s.version().c_str(), s.pid(), s.started().c_str());
  printf("programs:     %d attached\n", s.programs_size());
  for (const auto& p : s.programs()) printf("  %-22s %-32s id %u\n", p.name().c_str(), p.attach().c_str(), p.id());
  printf("records seen: %llu (%llu undecodable)\n", (unsigned long long)s.events_seen(),
         (unsigned long long)s.decode_errors());
  printf("  + daemon's:  %llu (content hashes, fanotify, open flows)\n", (unsigned long long)s.daemon_records());
  printf("  went to:    %llu events, %llu filtered, %llu merged (kernel records submitted: %llu)\n",
         (unsigned long long)s.record_events(), (unsigned long long)s.records_filtered(),
         (unsigned long long)s.records_merged(), (unsigned long long)s.kernel_records());
  printf("events out:   %llu\n", (unsigned long long)s.events_emitted());
  std::string per_cpu;
  for (int i = 0; i < s.ringbuf_drops_per_cpu_size(); ++i)
    per_cpu += (i ? " " : "") + std::to_string(s.ringbuf_drops_per_cpu(i));
  printf("drops:        %llu (per cpu: %s); tasks map full: %llu\n", (unsigned long long)s.ringbuf_drops(),
         per_cpu.c_str(), (unsigned long long)s.tasks_map_full());
  printf("jobs live:    %u (%u tasks tracked of %u)\n", s.jobs_live(), s.tasks_tracked(), s.tasks_map_capacity());
  printf("blind spots:  untracked refused %llu; fanotify overflows %llu; flows evicted %llu\n",
         (unsigned long long)s.untracked_refused(), (unsigned long long)s.fanotify_overflows(),
         (unsigned long long)s.flows_evicted());
  std::string pol;
  for (const auto& p : s.policies()) pol += (pol.empty() ? "" : ", ") + p;
  printf("policies:     %s (generation %llu)\n", pol.empty() ? "(none)" : pol.c_str(),
         (unsigned long long)s.policy_generation());
  if (s.has_last_reload()) {
    const auto& lr = s.last_reload();
    printf("last reload:  %s, %s%s%s\n", lr.time().c_str(), lr.applied() ? "applied" : "refused",
           lr.first_error().empty() ? "" : ": ", lr.first_error().c_str());
  }
  printf("alerts out:   %llu (%llu repeats counted, summed up)\n", (unsigned long long)s.alerts_emitted(),
         (unsigned long long)s.alert_repeats());
  const auto& c = s.control();
  printf("control:      %llu sessions open; refused %llu busy, %llu not allowed; %llu bad clients dropped, %llu idle "
         "closed; %llu accept failures; %llu fanotify changes unplaced\n",
         (unsigned long long)c.live(), (unsigned long long)c.refused_busy(), (unsigned long long)c.refused_peer(),
         (unsigned long long)c.dropped(), (unsigned long long)c.idle_closed(), (unsigned long long)c.accept_failures(),
         (unsigned long long)s.fanotify_unresolved());
  if (!s.journal_path().empty()) {
    const auto& j = s.journal();
    printf("journal:      %s\n  written %llu, dropped %llu, queued %llu, seals %llu, runs dropped by retention %llu%s%s\n",
           s.journal_path().c_str(), (unsigned long long)j.written(), (unsigned long long)j.dropped(),
           (unsigned long long)j.queued(), (unsigned long long)j.seals(), (unsigned long long)j.pruned_runs(),
           j.last_error().empty() ? "" : "; last error: ", j.last_error().c_str());
  } else {
    printf("journal:      off\n");
  }
  if (s.has_hash()) {
    const auto& h = s.hash();
    printf("hashes:       %llu files hashed (%llu bytes), %llu from cache, %llu errors, %llu refused (queue full); "
           "queued %llu/%llu, %llu cached, %llu files followed\n",
           (unsigned long long)h.hashed(), (unsigned long long)h.bytes(), (unsigned long long)h.cache_hits(),
           (unsigned long long)h.errors(), (unsigned long long)h.overflow(), (unsigned long long)h.queued(),
           (unsigned long long)h.queue_capacity(), (unsigned long long)h.cache_entries(),
           (unsigned long long)h.files_followed());
  }
  for (const auto& o : s.sinks()) {
    printf("output %-12s %-6s %s%s\n", o.name().c_str(), o.type().c_str(), o.target().c_str(),
           o.type() == "syslog" || o.type() == "http" ? (o.connected() ? " (connected)" : " (not connected)") : "");
    printf("  written %llu, delivered %llu, failed %llu, rejected %llu, dropped %llu, queued %llu, "
           "spooled %llu (%llu bytes)%s%s\n",
           (unsigned long long)o.written(), (unsigned long long)o.delivered(), (unsigned long long)o.failed(),
           (unsigned long long)o.rejected(), (unsigned long long)o.dropped(), (unsigned long long)o.queued(),
           (unsigned long long)o.spooled(), (unsigned long long)o.spool_bytes(),
           o.last_error().empty() ? "" : "; last error: ", o.last_error().c_str());
  }
  return 0;
}

int cmd_alert_test(const Args& a) {
  fts::v1::Request req;
  auto* t = req.mutable_test_alert();
  for (size_t i = 0; i < a.rest.size(); ++i) {
    const std::string& s = a.rest[i];
    bool has_value = i + 1 < a.rest.size();
    if (s == "--count" && has_value) {
      char* end = nullptr;
      unsigned long n = std::strtoul(a.rest[++i].c_str(), &end, 10);
      if (!end || *end || n == 0 || n > 100000) {
        fprintf(stderr, "ftsentinel alert-test: --count is 1..100000\n");
        return 2;
      }
      t->set_count(static_cast<uint32_t>(n));
    } else if (s == "--severity" && has_value) {
      t->set_severity(a.rest[++i]);
    } else if (s == "--message" && has_value) {
      t->set_message(a.rest[++i]);
    } else {
      fprintf(stderr, "usage: ftsentinel alert-test [--count N] [--severity info|low|medium|high|critical] [--message TEXT]\n");
      return 2;
    }
  }
  auto resp = call(a.socket, req);
  if (!resp) {
    fprintf(stderr, "ftsentinel alert-test: %s\n", resp.error().c_str());
    return 1;
  }
  const auto& r = resp->test_alert();
  printf("raised %u test alert(s) (rule test-alert)\n", r.raised());
  for (const auto& id : r.ids()) printf("%s\n", id.c_str());
  return 0;
}

int cmd_jobs(const Args& a) {
  bool json = false, all = false;
  for (const auto& s : a.rest) {
    if (s == "--json") json = true;
    else if (s == "--all") all = true;
    else return usage();
  }
  fts::v1::Request req;
  req.mutable_list_jobs()->set_all(all);
  auto resp = call(a.socket, req);
  if (!resp) {
    fprintf(stderr, "ftsentinel jobs: %s\n", resp.error().c_str());
    return 1;
  }
  if (json) {
    print_json(resp->jobs());
    return 0;
  }
  printf("%-16s  %-16s  %-20s  %-7s  %-6s  %7s  %5s  %-24s  %s\n", "JOB", "POLICY", "NAME", "MODE", "BY", "ROOT",
         "LIVE", "RUN", "STARTED");
  for (const auto& j : resp->jobs().jobs()) {
    printf("%-16s  %-16s  %-20s  %-7s  %-6s  %7u  %5u  %-24s  %s%s\n", j.id().c_str(), j.policy().c_str(),
           j.name().c_str(), j.mode().c_str(), j.started_by().c_str(), j.root_pid(), j.live_processes(), j.run().c_str(),
           j.start_time().c_str(), j.end_time().empty() ? "" : (" (ended " + j.end_time() + ")").c_str());
    // The GPU and RDMA devices it holds, one line each under the job.
    for (const auto& d : j.devices())
      printf("    %s %s (%s), %llu open(s) since %s\n", d.class_().c_str(), d.device().c_str(), d.number().c_str(),
             static_cast<unsigned long long>(d.opens()), d.first_time().c_str());
  }
  return 0;
}

// Exit 0 when the new policies run; 1 (errors printed as file:line:column)
// when the daemon refused them and the old ones still run.
int cmd_reload(const Args& a) {
  bool json = false;
  for (const auto& s : a.rest) {
    if (s == "--json") json = true;
    else return usage();
  }
  fts::v1::Request req;
  req.mutable_reload();
  auto c = Client::connect(fts::control::socket_path(a.socket));
  if (!c) {
    fprintf(stderr, "ftsentinel reload: %s\n", c.error().c_str());
    return 1;
  }
  fts::v1::Response resp;
  if (auto st = c->call(req, &resp, 60000); !st) {
    fprintf(stderr, "ftsentinel reload: %s\n", st.error().c_str());
    return 1;
  }
  if (!resp.has_reload()) {
    fprintf(stderr, "ftsentinel reload: %s\n", resp.error().empty() ? "no answer" : resp.error().c_str());
    return 1;
  }
  const auto& r = resp.reload();
  if (json) {
    print_json(r);
    return r.applied() ? 0 : 1;
  }
  for (const auto& e : r.errors()) fprintf(stderr, "%s\n", e.c_str());
  for (const auto& w : r.warnings()) fprintf(stderr, "warning: %s\n", w.c_str());
  std::string pol;
  for (const auto& p : r.policies()) pol += (pol.empty() ? "" : ", ") + p;
  if (!r.applied()) {
    fprintf(stderr, "ftsentinel reload: refused, %d error(s); still running generation %llu: %s\n", r.errors_size(),
            (unsigned long long)r.generation(), pol.empty() ? "(no policies)" : pol.c_str());
    return 1;
  }
  for (const auto& n : r.notes()) printf("%s\n", n.c_str());
  printf("reloaded: generation %llu, policies: %s\n", (unsigned long long)r.generation(),
         pol.empty() ? "(none)" : pol.c_str());
  return 0;
}

// A barrier: exit 0 once every record the kernel produced before the call
// went through the pipeline, rules and outputs; 3 when content hashes were
// still in flight at --timeout (the records are through; those hashes are not).
int cmd_sync(const Args& a) {
  bool json = false;
  fts::v1::Request req;
  auto* r = req.mutable_sync();
  for (size_t i = 0; i < a.rest.size(); ++i) {
    const std::string& s = a.rest[i];
    if (s == "--json") {
      json = true;
    } else if (s == "--settle") {
      r->set_settle(true);
    } else if (s == "--timeout" && i + 1 < a.rest.size()) {
      char* end = nullptr;
      unsigned long ms = std::strtoul(a.rest[++i].c_str(), &end, 10);
      if (!end || *end || ms == 0 || ms > 60000) {
        fprintf(stderr, "ftsentinel sync: --timeout is 1..60000 milliseconds\n");
        return 2;
      }
      r->set_timeout_ms(static_cast<uint32_t>(ms));
    } else {
      fprintf(stderr, "usage: ftsentinel sync [--timeout MS] [--settle] [--json]\n");
      return 2;
    }
  }
  uint32_t wait_ms = r->timeout_ms() ? r->timeout_ms() : 5000;
  auto c = Client::connect(fts::control::socket_path(a.socket));
  fts::v1::Response resp;
  std::string error;
  if (!c) error = c.error();
  else if (auto st = c->call(req, &resp, static_cast<int>(wait_ms) + 10000); !st) error = st.error();
  else if (!resp.ok()) error = resp.error();
  if (!error.empty()) {
    fprintf(stderr, "ftsentinel sync: %s\n", error.c_str());
    return 1;
  }
  const auto& s = resp.sync();
  if (json) print_json(s);
  else
    printf("synced in %u ms: %llu records, %llu fanotify events, %llu hashes finished, %llu pending, %llu settling\n",
           s.waited_ms(), (unsigned long long)s.records(), (unsigned long long)s.fanotify_events(),
           (unsigned long long)s.hashes_finished(), (unsigned long long)s.hashes_pending(),
           (unsigned long long)s.hashes_settling());
  return s.hashes_pending() ? 3 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  fts::route_protobuf_log();  // a job's argv may be any bytes: no protobuf complaint per request
  Args a;
  int i = 1;
  for (; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--socket" && i + 1 < argc) a.socket = argv[++i];
    else if (s.rfind("--socket=", 0) == 0) a.socket = s.substr(9);
    else break;
  }
  if (i >= argc) return usage();
  a.command = argv[i++];
  for (; i < argc; ++i) a.rest.emplace_back(argv[i]);
  if (a.command == "run") return cmd_run(a);
  if (a.command == "status") return cmd_status(a);
  if (a.command == "jobs") return cmd_jobs(a);
  if (a.command == "alert-test") return cmd_alert_test(a);
  if (a.command == "reload") return cmd_reload(a);
  if (a.command == "sync") return cmd_sync(a);
  if (fts::cli::is_journal_command(a.command)) return fts::cli::journal_command(a.command, a.socket, a.rest);
  if (a.command == "--help" || a.command == "help") {
    usage();
    return 0;
  }
  fprintf(stderr, "ftsentinel: unknown command '%s'\n", a.command.c_str());
  return usage();
}
