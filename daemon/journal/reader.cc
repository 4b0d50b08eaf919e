// The journal's readers: runs, records, verify. Read-only; the daemon may be
// writing at the same time (WAL).
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "common/time.h"
#include "journal/journal.h"

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
  if (!info.empty()) r.mutable_job()->ParseFromString(info);
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

Status Reader::each(const std::string& job_id, const std::function<void(const Record&)>& fn) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db_,
                              "SELECT seq, job_id, idx, type, kind, time_ms, pid, body, hash FROM records "
                              "WHERE job_id=? ORDER BY seq",
                              -1, &s, nullptr);
  if (rc != SQLITE_OK) return make_error(explain(db_, rc, path_));
  sqlite3_bind_text(s, 1, job_id.c_str(), -1, SQLITE_TRANSIENT);
  Record r;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    r.seq = sqlite3_column_int64(s, 0);
    r.job_id = text(s, 1);
    r.idx = sqlite3_column_int64(s, 2);
    r.type = static_cast<RecordType>(sqlite3_column_int(s, 3));
    r.kind = text(s, 4);
    r.time_ms = sqlite3_column_int64(s, 5);
    r.pid = static_cast<uint32_t>(sqlite3_column_int64(s, 6));
    r.body = blob(s, 7);
    r.hash = blob(s, 8);
    fn(r);
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return make_error(explain(db_, rc, path_));
  return {};
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

void problem(v1::VerifyReport* rep, const std::string& what, int64_t seq, const std::string& job, int64_t idx,
             const std::string& msg) {
  auto* p = rep->add_problems();
  p->set_what(what);
  p->set_seq(static_cast<uint64_t>(seq));
  p->set_job(job);
  p->set_index(static_cast<uint64_t>(idx));
  p->set_message(msg);
}

}  // namespace

Result<v1::VerifyReport> Reader::verify(const std::string& key) {
  v1::VerifyReport rep;
  rep.set_journal(path_);
  rep.set_macs_checked(!key.empty());

  // 1. The seal chain: contiguous, hash-linked, MACs under the key.
  std::map<std::string, std::vector<Checkpoint>> sealed;
  std::map<std::string, Checkpoint> pruned;
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db_, "SELECT n, time_ms, kind, body, hash, mac FROM seals ORDER BY n", -1, &s, nullptr);
  if (rc != SQLITE_OK) return make_error(explain(db_, rc, path_));
  std::string prev(32, '\0');
  int64_t expect = 1;
  bool seal_broken = false;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    int64_t n = sqlite3_column_int64(s, 0);
    int64_t t = sqlite3_column_int64(s, 1);
    std::string kind = text(s, 2), body = text(s, 3), h = blob(s, 4), mac = blob(s, 5);
    rep.set_seals(rep.seals() + 1);
    rep.set_last_seal(ms_time(t));
    if (!seal_broken) {
      if (n != expect) {
        problem(&rep, "seal_deleted", expect, "", 0,
                "seal #" + std::to_string(expect) + (n > expect + 1 ? "..#" + std::to_string(n - 1) : "") +
                    " deleted (the seal chain jumps to #" + std::to_string(n) + ")");
        seal_broken = true;
      } else if (seal_hash(prev, n, t, kind, body) != h) {
        problem(&rep, "seal_changed", n, "", 0,
                "seal #" + std::to_string(n) + " (" + ms_time(t) + ") was changed: its content no longer matches its hash");
        seal_broken = true;
      } else if (!key.empty() && hmac_sha256(key, h) != mac) {
        problem(&rep, "seal_forged", n, "", 0,
                "seal #" + std::to_string(n) + " (" + ms_time(t) + ") has a wrong HMAC: written without the journal key");
        seal_broken = true;
      }
    }
    prev = h;
    expect = n + 1;
    std::istringstream in(body);
    std::string job, head;
    int64_t count = 0;
    while (in >> job >> count >> head) {
      Checkpoint c{count, head, n, t};
      if (kind == "prune") pruned[job] = c;
      else sealed[job].push_back(c);
    }
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return make_error(explain(db_, rc, path_));
  rep.set_pruned_runs(pruned.size());

  // 2. Each run's chain, in index order.
  rc = sqlite3_prepare_v2(db_,
                          "SELECT seq, job_id, idx, type, kind, time_ms, pid, body, hash FROM records "
                          "ORDER BY job_id, idx, seq",
                          -1, &s, nullptr);
  if (rc != SQLITE_OK) return make_error(explain(db_, rc, path_));
  struct RunState {
    std::string prev;
    int64_t expect = 0;
    int64_t last_seq = 0;
    bool broken = false;
    std::map<int64_t, std::pair<std::string, int64_t>> hash_at;  // idx -> (stored hash hex, seq) at checkpoints
  };
  std::map<std::string, RunState> runs;
  std::vector<Reader::Record> pending;  // one look-ahead: is a bad record an insertion?
  auto checkpoint_idx = [&](const std::string& job, int64_t idx) {
    auto it = sealed.find(job);
    if (it == sealed.end()) return false;
    for (const auto& c : it->second)
      if (c.count - 1 == idx) return true;
    return false;
  };
  auto step = [&](const Reader::Record& r, const Reader::Record* next) {
    RunState& st = runs[r.job_id];
    if (st.prev.empty()) st.prev = run_genesis(r.job_id);
    if (st.broken) return;
    std::string want = record_hash(st.prev, r.seq, r.job_id, r.idx, static_cast<int>(r.type), r.kind, r.time_ms, r.pid, r.body);
    if (r.idx == st.expect && want == r.hash && r.seq > st.last_seq) {
      st.prev = r.hash;
      st.expect++;
      st.last_seq = r.seq;
      if (checkpoint_idx(r.job_id, r.idx)) st.hash_at[r.idx] = {hex(r.hash), r.seq};
      return;
    }
    st.broken = true;
    if (r.idx < st.expect) {
      problem(&rep, "inserted", r.seq, r.job_id, r.idx,
              describe(r) + " was inserted: run position #" + std::to_string(r.idx) + " is already taken");
    } else if (r.idx > st.expect) {
      problem(&rep, "deleted", r.seq, r.job_id, st.expect,
              "record(s) #" + std::to_string(st.expect) +
                  (r.idx - 1 > st.expect ? "..#" + std::to_string(r.idx - 1) : "") + " of job " + r.job_id +
                  " deleted (the chain jumps from seq " + std::to_string(st.last_seq) + " to " + describe(r) + ")");
    } else if (next && next->job_id == r.job_id && next->idx == r.idx &&
               record_hash(st.prev, next->seq, next->job_id, next->idx, static_cast<int>(next->type), next->kind,
                           next->time_ms, next->pid, next->body) == next->hash) {
      problem(&rep, "inserted", r.seq, r.job_id, r.idx,
              describe(r) + " was inserted: the chain continues without it");
    } else if (r.seq <= st.last_seq) {
      problem(&rep, "inserted", r.seq, r.job_id, r.idx, describe(r) + " was inserted: out of sequence");
    } else if (want != r.hash) {
      problem(&rep, "changed", r.seq, r.job_id, r.idx,
              describe(r) + " was changed: its content no longer matches its hash");
    }
  };
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
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
    rep.set_records(rep.records() + 1);
    pending.push_back(std::move(r));
    if (pending.size() == 2) {
      step(pending[0], &pending[1]);
      pending.erase(pending.begin());
    }
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return make_error(explain(db_, rc, path_));
  if (!pending.empty()) step(pending[0], nullptr);
  rep.set_runs(runs.size());

  // 3. The chains against the seals: what was sealed is still there, unchanged.
  for (const auto& [job, cps] : sealed) {
    auto rit = runs.find(job);
    bool was_pruned = pruned.count(job) > 0;
    if (rit == runs.end()) {
      if (!was_pruned) {
        const Checkpoint& last = cps.back();
        problem(&rep, "deleted", 0, job, 0,
                "all " + std::to_string(last.count) + " records of job " + job + " deleted (sealed by seal #" +
                    std::to_string(last.seal) + ", " + ms_time(last.time_ms) + "; no retention prune recorded)");
      }
      continue;
    }
    RunState& st = rit->second;
    if (st.broken) continue;
    for (const auto& c : cps) {
      if (was_pruned && c.seal <= pruned[job].seal) continue;  // an older life of a re-used id
      if (st.expect < c.count) {
        problem(&rep, "deleted", st.last_seq, job, st.expect,
                "record(s) #" + std::to_string(st.expect) + "..#" + std::to_string(c.count - 1) + " of job " + job +
                    " deleted after seq " + std::to_string(st.last_seq) + " (seal #" + std::to_string(c.seal) +
                    " counted " + std::to_string(c.count) + ")");
        st.broken = true;
        break;
      }
      auto h = st.hash_at.find(c.count - 1);
      if (h != st.hash_at.end() && h->second.first != c.head_hex) {
        problem(&rep, "rewritten", h->second.second, job, c.count - 1,
                "job " + job + "'s records up to #" + std::to_string(c.count - 1) + " (seq " +
                    std::to_string(h->second.second) + ") were rewritten after seal #" + std::to_string(c.seal) +
                    " (" + ms_time(c.time_ms) + "): the chain was recomputed, its head no longer matches the seal");
        st.broken = true;
        break;
      }
    }
  }
  for (const auto& [job, st] : runs) {
    auto it = sealed.find(job);
    int64_t sealed_count = it == sealed.end() ? 0 : it->second.back().count;
    if (pruned.count(job) && (it == sealed.end() || it->second.back().seal <= pruned[job].seal))
      sealed_count = 0;
    if (st.expect > sealed_count) rep.set_unsealed(rep.unsealed() + static_cast<uint64_t>(st.expect - sealed_count));
  }
  // The first problem first (by record sequence; seals before records).
  auto* ps = rep.mutable_problems();
  std::stable_sort(ps->begin(), ps->end(), [](const v1::VerifyProblem& a, const v1::VerifyProblem& b) {
    bool sa = a.what().rfind("seal", 0) == 0, sb = b.what().rfind("seal", 0) == 0;
    if (sa != sb) return sa;
    auto key = [](const v1::VerifyProblem& p) { return p.seq() ? p.seq() : UINT64_MAX; };  // 0: no one record
    return key(a) < key(b);
  });
  rep.set_intact(rep.problems_size() == 0);
  return rep;
}

}  // namespace fts::journal
