#include "cli/journal_cmds.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <vector>

#include "control/protocol.h"
#include "ftsentinel/v1/control.pb.h"
#include "journal/bom.h"
#include "journal/journal.h"
#include "journal/review.h"

namespace fts::cli {
namespace {

constexpr const char* kDefaultJournal = "/var/lib/ftsentinel/journal.db";

int usage(const std::string& cmd) {
  const char* u = "";
  // --journal repeats: journals copied from several nodes, read as one run.
  if (cmd == "runs") u = "ftsentinel runs [--journal FILE]... [--json]";
  else if (cmd == "review")
    u = "ftsentinel review JOB|RUN [--journal FILE]... [--json]\n"
        "       ftsentinel review JOB|RUN --timeline [--kind K]... [--pid PID] [--since TIME] [--until TIME] [--json]";
  else if (cmd == "export") u = "ftsentinel export JOB|RUN [--journal FILE]... [--format jsonl|ocsf|cyclonedx] [-o FILE]";
  else if (cmd == "report") u = "ftsentinel report JOB|RUN [--journal FILE]... -o FILE.html";
  else if (cmd == "verify") u = "ftsentinel verify [--journal FILE]... [--key FILE] [--json]";
  fprintf(stderr, "usage: %s\n", u);
  return 2;
}

// --journal, else the running daemon's, else the default.
std::string find_journal(const std::string& given, const std::string& socket) {
  if (!given.empty()) return given;
  auto c = control::Client::connect(control::socket_path(socket));
  if (c) {
    v1::Request req;
    req.mutable_status();
    v1::Response resp;
    if (c->call(req, &resp) && resp.ok() && !resp.status().journal_path().empty()) return resp.status().journal_path();
  }
  return kDefaultJournal;
}

struct Opts {
  std::vector<std::string> journals;
  std::string key, out, format = "jsonl", since, until, job;
  bool json = false, timeline = false;
  journal::TimelineFilter filter;
};

bool parse(const std::string& cmd, const std::vector<std::string>& a, Opts* o) {
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string& s = a[i];
    bool v = i + 1 < a.size();
    if (s == "--journal" && v) o->journals.push_back(a[++i]);
    else if (s == "--key" && v) o->key = a[++i];
    else if ((s == "-o" || s == "--output") && v) o->out = a[++i];
    else if (s == "--format" && v) o->format = a[++i];
    else if (s == "--json") o->json = true;
    else if (s == "--timeline") o->timeline = true;
    else if (s == "--kind" && v) o->filter.kinds.push_back(a[++i]);
    else if (s == "--pid" && v) {
      char* end = nullptr;
      unsigned long p = std::strtoul(a[++i].c_str(), &end, 10);
      if (!end || *end) return false;
      o->filter.pid = static_cast<uint32_t>(p);
    } else if (s == "--since" && v) o->since = a[++i];
    else if (s == "--until" && v) o->until = a[++i];
    else if (!s.empty() && s[0] != '-' && o->job.empty()) o->job = s;
    else {
      fprintf(stderr, "ftsentinel %s: unexpected '%s'\n", cmd.c_str(), s.c_str());
      return false;
    }
  }
  return true;
}

int fail(const std::string& cmd, const std::string& why) {
  fprintf(stderr, "ftsentinel %s: %s\n", cmd.c_str(), why.c_str());
  return 1;
}

// The journal key beside a journal (a copied journal: usually none).
std::string key_beside(const std::string& path) {
  auto slash = path.rfind('/');
  return (slash == std::string::npos ? std::string(".") : path.substr(0, slash)) + "/journal.key";
}

struct Journals {
  std::vector<std::unique_ptr<journal::Reader>> owned;
  std::vector<journal::Reader*> readers;
};

int runs(const Opts& o, const Journals& j) {
  std::vector<v1::RunSummary> all;
  v1::RunList l;
  for (journal::Reader* r : j.readers) {
    auto runs = r->runs();
    if (!runs) return fail("runs", runs.error());
    l.add_journals(r->path());
    for (auto& x : *runs) all.push_back(std::move(x));
  }
  std::vector<v1::RunGroup> groups = journal::group_by_run(all);
  if (o.json) {
    l.set_journal(j.readers.front()->path());
    for (auto& x : all) *l.add_runs() = x;
    for (auto& g : groups) *l.add_by_run() = std::move(g);
    printf("%s\n", journal::to_json(l, true).c_str());
  } else {
    printf("%s\n%s", journal::format_run_groups(groups).c_str(), journal::format_runs(all).c_str());
  }
  return 0;
}

// Each journal's chains and seals; the key is --key, else the one beside it.
int verify(const Opts& o, const Journals& j) {
  bool intact = true;
  for (journal::Reader* r : j.readers) {
    std::string key;
    if (auto k = journal::load_key(o.key.empty() ? key_beside(r->path()) : o.key); k) key = *k;
    else if (!o.key.empty()) return fail("verify", k.error());
    auto rep = r->verify(key);
    if (!rep) return fail("verify", rep.error());
    rep->set_journal(r->path());
    if (o.json) printf("%s\n", journal::to_json(*rep, true).c_str());
    else printf("%s", journal::format_verify(*rep).c_str());
    intact = intact && rep->intact();
  }
  return intact ? 0 : 1;
}

// A review across nodes says whether each journal it read is intact.
void add_verified(const Opts& o, const Journals& j, v1::Review* rv) {
  for (journal::Reader* r : j.readers) {
    std::string key;
    if (auto k = journal::load_key(o.key.empty() ? key_beside(r->path()) : o.key); k) key = *k;
    auto rep = r->verify(key);
    v1::VerifyReport& v = *rv->add_verified();
    if (rep) v = std::move(*rep);
    else v.add_problems()->set_message(rep.error());
    v.set_journal(r->path());
  }
}

bool write_out(const std::string& path, const std::string& data) {
  if (path.empty() || path == "-") return fwrite(data.data(), 1, data.size(), stdout) == data.size();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
  return static_cast<bool>(f);
}

// A written file the daemon never hashed, hashed at export: a regular file
// by its own name (no symlink followed), nullopt when it cannot be read.
std::optional<std::string> sha256_now(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  ssize_t n = 0;
  while (ok && (n = ::read(fd, buf.data(), buf.size())) > 0) ok = EVP_DigestUpdate(ctx.get(), buf.data(), n);
  ::close(fd);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (!ok || n < 0 || !EVP_DigestFinal_ex(ctx.get(), md, &len)) return std::nullopt;
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) (hex += kHex[md[i] >> 4]) += kHex[md[i] & 15];
  return hex;
}

std::string export_text(const journal::Loaded& run, const std::string& format) {
  if (format != "cyclonedx") return journal::export_run(run, format == "ocsf");
  journal::BomOptions o;
  o.hash_now = sha256_now;
  return journal::cyclonedx_bom(run, journal::review(run), o);
}

}  // namespace

bool is_journal_command(const std::string& c) {
  return c == "runs" || c == "review" || c == "export" || c == "report" || c == "verify";
}

int journal_command(const std::string& cmd, const std::string& socket, const std::vector<std::string>& args) {
  Opts o;
  if (!parse(cmd, args, &o)) return usage(cmd);
  bool needs_job = cmd == "review" || cmd == "export" || cmd == "report";
  if (needs_job && o.job.empty()) return usage(cmd);
  if (!needs_job && !o.job.empty()) return usage(cmd);
  if (cmd == "export" && o.format != "jsonl" && o.format != "json" && o.format != "ocsf" && o.format != "cyclonedx")
    return fail(cmd, "--format is jsonl, ocsf or cyclonedx, not '" + o.format + "'");
  if (cmd == "report" && o.out.empty()) return usage(cmd);
  if (o.journals.empty()) o.journals.push_back(find_journal("", socket));
  Journals j;
  for (const auto& path : o.journals) {
    auto reader = journal::Reader::open(path);
    if (!reader) return fail(cmd, reader.error());
    j.readers.push_back(reader->get());
    j.owned.push_back(std::move(*reader));
  }
  const std::string& path = o.journals.front();
  if (cmd == "runs") return runs(o, j);
  if (cmd == "verify") return verify(o, j);

  auto run = journal::load_across(j.readers, o.job);
  if (!run) return fail(cmd, run.error());
  if (cmd == "export") {
    if (!write_out(o.out, export_text(*run, o.format))) return fail(cmd, "cannot write " + o.out);
    return 0;
  }
  if (cmd == "review" && o.timeline) {
    auto f = journal::parse_time_bounds(o.filter, o.since, o.until);
    if (!f) return fail(cmd, f.error());
    auto t = journal::timeline(*run, *f);
    t.set_journal(path);
    if (o.json) printf("%s\n", journal::to_json(t, true).c_str());
    else printf("%s", journal::format_timeline(t).c_str());
    return 0;
  }
  auto rv = journal::review(*run);
  rv.set_journal(path);
  if (j.readers.size() > 1) add_verified(o, j, &rv);
  if (cmd == "report") {
    auto t = journal::timeline(*run, {});
    if (!write_out(o.out, journal::html_report(rv, t))) return fail(cmd, "cannot write " + o.out);
    fprintf(stderr, "ftsentinel report: %s (job %s, %d records, %d alerts)\n", o.out.c_str(),
            rv.run().job().id().c_str(), t.entries_size(), rv.alerts_size());
    return 0;
  }
  if (o.json) printf("%s\n", journal::to_json(rv, true).c_str());
  else printf("%s", journal::format_review(rv).c_str());
  return 0;
}

}  // namespace fts::cli
