// The journal's readers: runs, records, verify. Read-only; the daemon may be
// writing at the same time (WAL).
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <functional>
#include <map>
#include <sstream>

#include "common/time.h"
#include "journal/journal.h"
#include "common/utf8.h"

namespace fts::journal {
namespace {

std::string ms_time(int64_t ms) { return ms > 0 ? rfc3339(static_cast<uint64_t>(ms) * 1000000ull) : ""; }

std::string blob(sqlite3_stmt* s, int col) {
  const void* p = sqlite3_column_blob(s, col);
  return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(s, col)) : std::string();
}
std::string text(sqlite3_stmt* s, int col) {
  const unsigned char* p = sqlite3_column_text(s, col);
  return p ? reinterpret_cast<const char*>(p) : "";
}

// A clear word for what SQLite says about a file that is not what we want.
std::string explain(sqlite3* db, int rc, const std::string& path) {
  int base = rc & 0xff;
  if (base == SQLITE_BUSY || base == SQLITE_LOCKED)
    return "journal " + path + " is locked (another process holds it; retried for 5 s)";
  if (base == SQLITE_NOTADB || base == SQLITE_CORRUPT)
    return "journal " + path + " is corrupt or not a journal: " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  return "journal " + path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

}  // namespace

Result<std::unique_ptr<Reader>> Reader::open(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error("journal " + path + ": no such file");
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = explain(db, rc, path);
    sqlite3_close(db);
    return make_error(why);
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<Reader> r(new Reader(db, path));
  sqlite3_stmt* s = nullptr;
  rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='schema_version'", -1, &s, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = explain(db, rc, path);
    if ((rc & 0xff) == SQLITE_ERROR) why = "journal " + path + " is not an ftsentinel journal (no schema version)";
    return make_error(why);
  }
  rc = sqlite3_step(s);
  int version = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return make_error(explain(db, rc, path));
  if (version == 0) return make_error("journal " + path + " is not an ftsentinel journal (no schema version)");
  if (version > kSchemaVersion)
    return make_error("journal " + path + " was written by a newer ftsentinel (schema " + std::to_string(version) +
                      "; this one reads up to " + std::to_string(kSchemaVersion) + ")");
  return r;
}

Reader::~Reader() { sqlite3_close(db_); }

namespace {
const char* kRunColumns =
    "SELECT job_id, policy, name, info, start_ms, end_ms, last_ms, root_pid, exit_code, exit_signal, records, alerts "
    "FROM runs ";

v1::RunSummary run_row(sqlite3_stmt* s) {
  v1::RunSummary r;
  std::string info = blob(s, 3);
  if (!info.empty()) parse_any_text(r.mutable_job(), info);
  auto* j = r.mutable_job();
  j->set_id(text(s, 0));
  if (j->policy().empty()) j->set_policy(text(s, 1));
  if (j->name().empty()) j->set_name(text(s, 2));
  if (j->start_time().empty()) j->set_start_time(ms_time(sqlite3_column_int64(s, 4)));
  if (sqlite3_column_int64(s, 5) > 0 && j->end_time().empty() && j->id().rfind("host-", 0) != 0)
    j->set_end_time(ms_time(sqlite3_column_int64(s, 5)));
  j->set_live_processes(0);  // a snapshot of the start; meaningless here
  r.set_last_time(ms_time(sqlite3_column_int64(s, 6)));
  if (sqlite3_column_type(s, 8) != SQLITE_NULL) r.set_exit_code(sqlite3_column_int(s, 8));
  if (sqlite3_column_type(s, 9) != SQLITE_NULL) r.set_exit_signal(sqlite3_column_int(s, 9));
  r.set_records(static_cast<uint64_t>(sqlite3_column_int64(s, 10)));
  r.set_alerts(static_cast<uint64_t>(sqlite3_column_int64(s, 11)));
  return r;
}
}  // namespace

Result<std::vector<v1::RunSummary>> Reader::runs() {
  sqlite3_stmt* s = nullptr;
  std::string sql = std::string(kRunColumns) + "ORDER BY CASE WHEN start_ms>0 THEN start_ms ELSE last_ms END DESC";
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr);
  if (rc != SQLITE_OK) return make_error(explain(db_, rc, path_));
  std::vector<v1::RunSummary> out;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(run_row(s));
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return make_error(explain(db_, rc, path_));
  return out;
}

Result<v1::RunSummary> Reader::run(const std::string& job) {
  sqlite3_stmt* s = nullptr;
  std::string sql = std::string(kRunColumns) + "WHERE job_id = ?1 OR job_id LIKE ?2 ESCAPE '\\' LIMIT 2";
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr);
  if (rc != SQLITE_OK) return make_error(explain(db_, rc, path_));
  std::string like;
  for (char c : job) {
    if (c == '%' || c == '_' || c == '\\') like += '\\';
    like += c;
  }
  like += '%';
  sqlite3_bind_text(s, 1, job.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 2, like.c_str(), -1, SQLITE_TRANSIENT);
  std::vector<v1::RunSummary> found;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) found.push_back(run_row(s));
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return make_error(explain(db_, rc, path_));
  for (auto& f : found)
    if (f.job().id() == job) return f;
  if (found.empty()) return make_error("no job '" + job + "' in journal " + path_ + " (`ftsentinel runs` lists them)");
  if (found.size() > 1) return make_error("'" + job + "' names more than one job in " + path_ + "; give more of the id");
  return found[0];
}

namespace {
const char* kRecordColumns = "SELECT seq, job_id, idx, type, kind, time_ms, pid, body, hash FROM records ";

Reader::Record record_row(sqlite3_stmt* s) {
  Reader::Record r;
  r.seq = sqlite3_column_int64(s, 0);
  r.job_id = text(s, 1);
  r.idx = sqlite3_column_int64(s, 2);
  r.type = static_cast<RecordType>(sqlite3_column_int(s, 3));
  r.kind = text(s, 4);
  r.time_ms = sqlite3_column_int64(s, 5);
  r.pid = static_cast<uint32_t>(sqlite3_column_int64(s, 6));
  r.body = blob(s, 7);
  r.hash = blob(s, 8);
  return r;
}

// Runs a query and hands each row to fn.
Status each_row(sqlite3* db, const std::string& path, const std::string& sql,
                const std::function<void(sqlite3_stmt*)>& bind, const std::function<void(sqlite3_stmt*)>& fn) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr);
  if (rc != SQLITE_OK) return make_error(explain(db, rc, path));
  if (bind) bind(s);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) fn(s);
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return make_error(explain(db, rc, path));
  return {};
}
}  // namespace

Status Reader::each(const std::string& job_id, const std::function<void(const Record&)>& fn) {
  return each_row(
      db_, path_, std::string(kRecordColumns) + "WHERE job_id=? ORDER BY seq",
      [&](sqlite3_stmt* s) { sqlite3_bind_text(s, 1, job_id.c_str(), -1, SQLITE_TRANSIENT); },
      [&](sqlite3_stmt* s) { fn(record_row(s)); });
}

// ---- verify ----

namespace {

struct Checkpoint {
  int64_t count;
  std::string head_hex;
  int64_t seal;
  int64_t time_ms;
};

std::string describe(const Reader::Record& r) {
  return "record seq " + std::to_string(r.seq) + " (job " + r.job_id + ", #" + std::to_string(r.idx) + ", " +
         (r.type == RecordType::kAlert ? "alert " : "") + r.kind + ", " + ms_time(r.time_ms) + ")";
}

std::string range(int64_t from, int64_t to) {
  return "#" + std::to_string(from) + (to > from ? "..#" + std::to_string(to) : "");
}

std::string hash_of(const std::string& prev, const Reader::Record& r) {
  return record_hash(prev, r.seq, r.job_id, r.idx, static_cast<int>(r.type), r.kind, r.time_ms, r.pid, r.body);
}

// One verify pass: the seal chain, then every run's chain, then the chains
// against what the seals say they held. Each step adds the problems it finds.
class Verifier {
 public:
  Verifier(sqlite3* db, const std::string& path, const std::string& key) : db_(db), path_(path), key_(key) {
    rep_.set_journal(path);
    rep_.set_macs_checked(!key.empty());
  }
  Result<v1::VerifyReport> run();

 private:
  struct RunState {
    std::string prev;
    int64_t expect = 0;
    int64_t last_seq = 0;
    bool broken = false;
    std::map<int64_t, std::pair<std::string, int64_t>> hash_at;  // idx -> (stored hash hex, seq) at checkpoints
  };

  Status read_seals();
  void check_seal(int64_t n, int64_t t, const std::string& kind, const std::string& body, const std::string& h,
                  const std::string& mac);
  bool seal_intact(int64_t n, int64_t t, const std::string& kind, const std::string& body, const std::string& h,
                   const std::string& mac);
  Status walk_chains();
  void step(const Reader::Record& r, const Reader::Record* next);
  void name_break(RunState& st, const Reader::Record& r, const Reader::Record* next, const std::string& want);
  bool is_checkpoint(const std::string& job, int64_t idx) const;
  void check_against_seals();
  bool check_run_against_seals(const std::string& job, const std::vector<Checkpoint>& cps, RunState& st);
  void count_unsealed();
  void sort_problems();
  void problem(const std::string& what, int64_t seq, const std::string& job, int64_t idx, const std::string& msg);

  sqlite3* db_;
  const std::string& path_;
  const std::string& key_;
  v1::VerifyReport rep_;
  std::map<std::string, std::vector<Checkpoint>> sealed_;
  std::map<std::string, Checkpoint> pruned_;
  std::string seal_prev_ = std::string(32, '\0');
  int64_t seal_expect_ = 1;
  bool seal_broken_ = false;
  std::map<std::string, RunState> runs_;
};

Result<v1::VerifyReport> Verifier::run() {
  if (auto st = read_seals(); !st) return make_error(st.error());
  if (auto st = walk_chains(); !st) return make_error(st.error());
  check_against_seals();
  count_unsealed();
  sort_problems();
  rep_.set_intact(rep_.problems_size() == 0);
  return rep_;
}

void Verifier::problem(const std::string& what, int64_t seq, const std::string& job, int64_t idx,
                       const std::string& msg) {
  auto* p = rep_.add_problems();
  p->set_what(what);
  p->set_seq(static_cast<uint64_t>(seq));
  p->set_job(job);
  p->set_index(static_cast<uint64_t>(idx));
  p->set_message(msg);
}

// 1. The seal chain: contiguous, hash-linked, MACs under the key; what each
// seal says the runs held.
Status Verifier::read_seals() {
  auto st = each_row(db_, path_, "SELECT n, time_ms, kind, body, hash, mac FROM seals ORDER BY n", nullptr,
                     [&](sqlite3_stmt* s) {
                       int64_t n = sqlite3_column_int64(s, 0), t = sqlite3_column_int64(s, 1);
                       std::string kind = text(s, 2), body = text(s, 3);
                       check_seal(n, t, kind, body, blob(s, 4), blob(s, 5));
                       std::istringstream in(body);
                       std::string job, head;
                       int64_t count = 0;
                       while (in >> job >> count >> head) {
                         Checkpoint c{count, head, n, t};
                         if (kind == "prune") pruned_[job] = c;
                         else sealed_[job].push_back(c);
                       }
                     });
  rep_.set_pruned_runs(pruned_.size());
  return st;
}

void Verifier::check_seal(int64_t n, int64_t t, const std::string& kind, const std::string& body,
                          const std::string& h, const std::string& mac) {
  rep_.set_seals(rep_.seals() + 1);
  rep_.set_last_seal(ms_time(t));
  if (!seal_broken_) seal_broken_ = !seal_intact(n, t, kind, body, h, mac);
  seal_prev_ = h;
  seal_expect_ = n + 1;
}

// The first broken seal is named; what follows it cannot be trusted either.
bool Verifier::seal_intact(int64_t n, int64_t t, const std::string& kind, const std::string& body,
                           const std::string& h, const std::string& mac) {
  std::string seal = "seal #" + std::to_string(n) + " (" + ms_time(t) + ")";
  if (n != seal_expect_) {
    problem("seal_deleted", seal_expect_, "", 0,
            "seal " + range(seal_expect_, n - 1) + " deleted (the seal chain jumps to #" + std::to_string(n) + ")");
    return false;
  }
  if (seal_hash(seal_prev_, n, t, kind, body) != h) {
    problem("seal_changed", n, "", 0, seal + " was changed: its content no longer matches its hash");
    return false;
  }
  if (!key_.empty() && hmac_sha256(key_, h) != mac) {
    problem("seal_forged", n, "", 0, seal + " has a wrong HMAC: written without the journal key");
    return false;
  }
  return true;
}

// 2. Each run's chain, in index order, with one record of look-ahead: is a
// bad record an insertion?
Status Verifier::walk_chains() {
  std::vector<Reader::Record> pending;
  auto st = each_row(db_, path_, std::string(kRecordColumns) + "ORDER BY job_id, idx, seq", nullptr,
                     [&](sqlite3_stmt* s) {
                       rep_.set_records(rep_.records() + 1);
                       pending.push_back(record_row(s));
                       if (pending.size() == 2) {
                         step(pending[0], &pending[1]);
                         pending.erase(pending.begin());
                       }
                     });
  if (!st) return st;
  if (!pending.empty()) step(pending[0], nullptr);
  rep_.set_runs(runs_.size());
  return {};
}

bool Verifier::is_checkpoint(const std::string& job, int64_t idx) const {
  auto it = sealed_.find(job);
  if (it == sealed_.end()) return false;
  for (const auto& c : it->second)
    if (c.count - 1 == idx) return true;
  return false;
}

void Verifier::step(const Reader::Record& r, const Reader::Record* next) {
  RunState& st = runs_[r.job_id];
  if (st.prev.empty()) st.prev = run_genesis(r.job_id);
  if (st.broken) return;
  std::string want = hash_of(st.prev, r);
  if (r.idx == st.expect && want == r.hash && r.seq > st.last_seq) {
    st.prev = r.hash;
    st.expect++;
    st.last_seq = r.seq;
    if (is_checkpoint(r.job_id, r.idx)) st.hash_at[r.idx] = {hex(r.hash), r.seq};
    return;
  }
  st.broken = true;
  name_break(st, r, next, want);
}

// What happened where a run's chain breaks.
void Verifier::name_break(RunState& st, const Reader::Record& r, const Reader::Record* next, const std::string& want) {
  if (r.idx < st.expect) {
    problem("inserted", r.seq, r.job_id, r.idx,
            describe(r) + " was inserted: run position #" + std::to_string(r.idx) + " is already taken");
  } else if (r.idx > st.expect) {
    problem("deleted", r.seq, r.job_id, st.expect,
            "record(s) " + range(st.expect, r.idx - 1) + " of job " + r.job_id + " deleted (the chain jumps from seq " +
                std::to_string(st.last_seq) + " to " + describe(r) + ")");
  } else if (next && next->job_id == r.job_id && next->idx == r.idx && hash_of(st.prev, *next) == next->hash) {
    problem("inserted", r.seq, r.job_id, r.idx, describe(r) + " was inserted: the chain continues without it");
  } else if (r.seq <= st.last_seq) {
    problem("inserted", r.seq, r.job_id, r.idx, describe(r) + " was inserted: out of sequence");
  } else if (want != r.hash) {
    problem("changed", r.seq, r.job_id, r.idx, describe(r) + " was changed: its content no longer matches its hash");
  }
}

// 3. The chains against the seals: what was sealed is still there, unchanged.
void Verifier::check_against_seals() {
  for (const auto& [job, cps] : sealed_) {
    auto rit = runs_.find(job);
    if (rit != runs_.end()) {
      if (!rit->second.broken) check_run_against_seals(job, cps, rit->second);
      continue;
    }
    if (pruned_.count(job)) continue;
    const Checkpoint& last = cps.back();
    problem("deleted", 0, job, 0,
            "all " + std::to_string(last.count) + " records of job " + job + " deleted (sealed by seal #" +
                std::to_string(last.seal) + ", " + ms_time(last.time_ms) + "; no retention prune recorded)");
  }
}

bool Verifier::check_run_against_seals(const std::string& job, const std::vector<Checkpoint>& cps, RunState& st) {
  bool was_pruned = pruned_.count(job) > 0;
  for (const auto& c : cps) {
    if (was_pruned && c.seal <= pruned_[job].seal) continue;  // an older life of a re-used id
    if (st.expect < c.count) {
      problem("deleted", st.last_seq, job, st.expect,
              "record(s) #" + std::to_string(st.expect) + "..#" + std::to_string(c.count - 1) + " of job " + job +
                  " deleted after seq " + std::to_string(st.last_seq) + " (seal #" + std::to_string(c.seal) +
                  " counted " + std::to_string(c.count) + ")");
      return st.broken = true;
    }
    auto h = st.hash_at.find(c.count - 1);
    if (h != st.hash_at.end() && h->second.first != c.head_hex) {
      problem("rewritten", h->second.second, job, c.count - 1,
              "job " + job + "'s records up to #" + std::to_string(c.count - 1) + " (seq " +
                  std::to_string(h->second.second) + ") were rewritten after seal #" + std::to_string(c.seal) + " (" +
                  ms_time(c.time_ms) + "): the chain was recomputed, its head no longer matches the seal");
      return st.broken = true;
    }
  }
  return false;
}

// 4. Records newer than their run's last seal: hash-chained only.
void Verifier::count_unsealed() {
  for (const auto& [job, st] : runs_) {
    auto it = sealed_.find(job);
    int64_t sealed_count = it == sealed_.end() ? 0 : it->second.back().count;
    if (pruned_.count(job) && (it == sealed_.end() || it->second.back().seal <= pruned_[job].seal)) sealed_count = 0;
    if (st.expect > sealed_count) rep_.set_unsealed(rep_.unsealed() + static_cast<uint64_t>(st.expect - sealed_count));
  }
}

// The first problem first (by record sequence; seals before records).
void Verifier::sort_problems() {
  auto* ps = rep_.mutable_problems();
  std::stable_sort(ps->begin(), ps->end(), [](const v1::VerifyProblem& a, const v1::VerifyProblem& b) {
    bool sa = a.what().rfind("seal", 0) == 0, sb = b.what().rfind("seal", 0) == 0;
    if (sa != sb) return sa;
    auto key = [](const v1::VerifyProblem& p) { return p.seq() ? p.seq() : UINT64_MAX; };  // 0: no one record
    return key(a) < key(b);
  });
}

}  // namespace

Result<v1::VerifyReport> Reader::verify(const std::string& key) { return Verifier(db_, path_, key).run(); }

}  // namespace fts::journal
