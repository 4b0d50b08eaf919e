// The journal's writer: schema, hash chains, seals, retention. The design is
// at the top of journal.h.
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/sha256.h"
#include "journal/journal.h"
#include "sinks/format.h"
#include "common/utf8.h"

namespace fts::journal {
namespace {

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
  job_id TEXT PRIMARY KEY, policy TEXT NOT NULL DEFAULT '', name TEXT NOT NULL DEFAULT '', info BLOB,
  start_ms INTEGER NOT NULL DEFAULT 0, end_ms INTEGER NOT NULL DEFAULT 0, last_ms INTEGER NOT NULL DEFAULT 0,
  root_pid INTEGER NOT NULL DEFAULT 0, exit_code INTEGER, exit_signal INTEGER,
  records INTEGER NOT NULL DEFAULT 0, alerts INTEGER NOT NULL DEFAULT 0, head BLOB);
CREATE TABLE IF NOT EXISTS records(
  seq INTEGER PRIMARY KEY, job_id TEXT NOT NULL, idx INTEGER NOT NULL, type INTEGER NOT NULL,
  kind TEXT NOT NULL, time_ms INTEGER NOT NULL, pid INTEGER NOT NULL, body BLOB NOT NULL, hash BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS records_by_run ON records(job_id, idx);
CREATE TABLE IF NOT EXISTS seals(
  n INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
  hash BLOB NOT NULL, mac BLOB NOT NULL);
)sql";

void put_le(EVP_MD_CTX* c, int64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(static_cast<uint64_t>(v) >> (8 * i));
  EVP_DigestUpdate(c, b, 8);
}
void put_str(EVP_MD_CTX* c, const std::string& s) {
  put_le(c, static_cast<int64_t>(s.size()));  // length-prefixed: no ambiguity between fields
  EVP_DigestUpdate(c, s.data(), s.size());
}

struct Digest {
  Digest() : ctx(EVP_MD_CTX_new()) {}
  ~Digest() { EVP_MD_CTX_free(ctx); }
  EVP_MD_CTX* begin() {
    EVP_DigestInit_ex(ctx, sha256_md(), nullptr);
    return ctx;
  }
  std::string end() {
    unsigned char out[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, out, &n);
    return std::string(reinterpret_cast<char*>(out), n);
  }
  EVP_MD_CTX* ctx;
};

Digest& digest() {
  thread_local Digest d;
  return d;
}

void put(EVP_MD_CTX* c, int64_t v) { put_le(c, v); }
void put(EVP_MD_CTX* c, const std::string& s) { put_str(c, s); }

// A link of a chain: SHA-256 over the previous link's hash, then each part
// (integers as 8 bytes little-endian, strings length-prefixed).
template <typename... Parts>
std::string chain_hash(const std::string& prev, const Parts&... parts) {
  auto* c = digest().begin();
  EVP_DigestUpdate(c, prev.data(), prev.size());
  (put(c, parts), ...);
  return digest().end();
}

std::string sql_error(sqlite3* db, const char* what) { return std::string(what) + ": " + sqlite3_errmsg(db); }

}  // namespace

std::string hex(const std::string& bytes) {
  static const char* k = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += k[c >> 4];
    out += k[c & 15];
  }
  return out;
}

std::string run_genesis(const std::string& job_id) {
  auto* c = digest().begin();
  std::string tag = "ftsentinel run " + job_id;
  EVP_DigestUpdate(c, tag.data(), tag.size());
  return digest().end();
}

std::string record_hash(const std::string& prev, int64_t seq, const std::string& job_id, int64_t idx, int type,
                        const std::string& kind, int64_t time_ms, int64_t pid, const std::string& body) {
  return chain_hash(prev, seq, job_id, idx, int64_t{type}, kind, time_ms, pid, body);
}

std::string seal_hash(const std::string& prev, int64_t n, int64_t time_ms, const std::string& kind,
                      const std::string& body) {
  return chain_hash(prev, n, time_ms, kind, body);
}

std::string hmac_sha256(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &n);
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string host_run_id(int64_t time_ms) {
  time_t t = static_cast<time_t>(time_ms / 1000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "host-%Y-%m-%d", &tm);
  return buf;
}

namespace {
// Events and alerts carry the same parts a row needs.
template <typename Record>
Entry entry(const Record& r, RecordType type, const std::string& kind) {
  Entry x;
  x.job_id = r.job().id();
  x.type = type;
  x.kind = kind;
  x.time_ms = sinks::rfc3339_to_ms(r.time());
  x.pid = r.process().pid();
  r.SerializeToString(&x.body);
  return x;
}
}  // namespace

Entry entry_of(const v1::Event& e) { return entry(e, RecordType::kEvent, e.kind()); }

Entry entry_of(const v1::Alert& a) { return entry(a, RecordType::kAlert, a.rule()); }

Result<std::string> load_key(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("journal key " + path + ": " + std::strerror(errno));
  std::string key(256, '\0');
  ssize_t n = ::read(fd, key.data(), key.size());
  ::close(fd);
  if (n < 16) return make_error("journal key " + path + ": shorter than 16 bytes");
  key.resize(static_cast<size_t>(n));
  return key;
}

Result<std::string> load_or_create_key(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (st.st_mode & 077)
      return make_error("journal key " + path + " is readable by group or others (mode " +
                        std::to_string(st.st_mode & 0777) + " octal-decimal); chmod 0600 it");
    return load_key(path);
  }
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof(raw)) != 1) return make_error("journal key: no randomness");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return load_key(path);  // made by someone else meanwhile
    return make_error("journal key " + path + ": " + std::strerror(errno));
  }
  bool ok = ::write(fd, raw, sizeof(raw)) == static_cast<ssize_t>(sizeof(raw)) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return make_error("journal key " + path + ": write failed");
  return std::string(reinterpret_cast<char*>(raw), sizeof(raw));
}

// ---- Writer ----

Result<std::unique_ptr<Writer>> Writer::open(const std::string& path, std::string key) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return make_error("journal " + path + ": " + why);
  }
  ::chmod(path.c_str(), 0600);
  std::unique_ptr<Writer> w(new Writer(db, std::move(key)));
  if (auto st = w->init(); !st) return make_error("journal " + path + ": " + st.error());
  return w;
}

Writer::~Writer() {
  if (insert_) sqlite3_finalize(insert_);
  for (auto& [sql, s] : cached_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

sqlite3_stmt* Writer::cached(const char* sql) {
  sqlite3_stmt*& s = cached_[sql];
  if (!s && sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) {
    sqlite3_finalize(s);
    s = nullptr;
  }
  return s;
}

Status Writer::step_cached(const char* sql) {
  sqlite3_stmt* s = cached(sql);
  if (!s) return make_error(sqlite3_errmsg(db_));
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return make_error(sqlite3_errmsg(db_));
  return {};
}

Status Writer::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return make_error(why);
  }
  return {};
}

Status Writer::init() {
  sqlite3_busy_timeout(db_, 5000);
  if (auto st = exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"); !st) return st;
  if (auto st = exec(kSchema); !st) return st;
  // The schema version: a newer one is not ours to write into.
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key='schema_version'", -1, &s, nullptr);
  int version = 0;
  if (sqlite3_step(s) == SQLITE_ROW) version = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  if (version > kSchemaVersion)
    return make_error("written by a newer ftsentinel (schema " + std::to_string(version) + ", this one knows " +
                      std::to_string(kSchemaVersion) + ")");
  if (version == 0) {
    std::string sql = "INSERT OR REPLACE INTO meta VALUES('schema_version','" + std::to_string(kSchemaVersion) + "')";
    if (auto st = exec(sql.c_str()); !st) return st;
  }
  // Where each chain stands: from the records themselves, not the runs table.
  sqlite3_prepare_v2(db_,
                     "SELECT r.job_id, r.idx, r.hash FROM records r JOIN "
                     "(SELECT job_id, MAX(idx) AS m FROM records GROUP BY job_id) t "
                     "ON r.job_id = t.job_id AND r.idx = t.m",
                     -1, &s, nullptr);
  while (sqlite3_step(s) == SQLITE_ROW) {
    Run& r = runs_[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))];
    r.count = sqlite3_column_int64(s, 1) + 1;
    r.head.assign(static_cast<const char*>(sqlite3_column_blob(s, 2)), sqlite3_column_bytes(s, 2));
    r.in_table = true;
  }
  sqlite3_finalize(s);
  sqlite3_prepare_v2(db_, "SELECT COALESCE(MAX(seq),0) FROM records", -1, &s, nullptr);
  if (sqlite3_step(s) == SQLITE_ROW) seq_ = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_prepare_v2(db_, "SELECT n, hash FROM seals ORDER BY n DESC LIMIT 1", -1, &s, nullptr);
  seal_head_.assign(32, '\0');
  if (sqlite3_step(s) == SQLITE_ROW) {
    seal_n_ = sqlite3_column_int64(s, 0);
    seal_head_.assign(static_cast<const char*>(sqlite3_column_blob(s, 1)), sqlite3_column_bytes(s, 1));
  }
  sqlite3_finalize(s);
  // Sequence numbers of pruned runs are never reused: remember the high mark.
  sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key='max_seq'", -1, &s, nullptr);
  if (sqlite3_step(s) == SQLITE_ROW) seq_ = std::max<int64_t>(seq_, sqlite3_column_int64(s, 0));
  sqlite3_finalize(s);
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO records(seq, job_id, idx, type, kind, time_ms, pid, body, hash) "
                         "VALUES(?,?,?,?,?,?,?,?,?)",
                         -1, &insert_, nullptr) != SQLITE_OK)
    return make_error(sql_error(db_, "prepare"));
  return {};
}

void Writer::note_metadata(const Entry& e, const std::string& run_id) {
  Meta& m = meta_[run_id];
  m.last_ms = std::max(m.last_ms, e.time_ms);
  if (e.type == RecordType::kAlert) {
    m.alerts++;
    return;
  }
  if (run_id.rfind("host-", 0) == 0) return;
  if (e.kind != "job_start" && e.kind != "job_end" && e.kind != "exit") return;
  v1::Event ev;
  if (!parse_any_text(&ev, e.body)) return;
  if (e.kind == "exit") {
    // The job's exit status is its root process's.
    // Kept with the run, not the batch's metadata: a job's every exit would
    // otherwise ask the database again.
    uint32_t& root = runs_[run_id].root_pid;
    if (!root) root = m.root_pid;
    if (!root) {
      if (sqlite3_stmt* s = cached("SELECT root_pid FROM runs WHERE job_id=?")) {
        sqlite3_bind_text(s, 1, run_id.c_str(), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(s) == SQLITE_ROW) root = static_cast<uint32_t>(sqlite3_column_int64(s, 0));
        sqlite3_reset(s);
      }
    }
    m.root_pid = root;
    if (root && ev.process().pid() == root && ev.process().tid() == root) {
      if (ev.exit().has_code()) m.exit_code = ev.exit().code();
      if (ev.exit().has_signal()) m.exit_signal = ev.exit().signal();
    }
    return;
  }
  m.info = ev.job_info();
  m.root_pid = runs_[run_id].root_pid = ev.job_info().root_pid();
  if (e.kind == "job_start") m.start_ms = sinks::rfc3339_to_ms(ev.job_info().start_time());
  else m.end_ms = e.time_ms ? e.time_ms : 1;
}

Status Writer::append(const std::vector<Entry>& batch) {
  if (batch.empty()) return {};
  if (auto st = step_cached("BEGIN IMMEDIATE"); !st) return st;
  std::string why;
  for (const Entry& e : batch) {
    std::string run_id = e.job_id.empty() ? host_run_id(e.time_ms) : e.job_id;
    Run& r = runs_[run_id];
    if (r.head.empty()) r.head = run_genesis(run_id);
    int64_t seq = ++seq_;
    std::string h = record_hash(r.head, seq, run_id, r.count, static_cast<int>(e.type), e.kind, e.time_ms, e.pid, e.body);
    sqlite3_bind_int64(insert_, 1, seq);
    sqlite3_bind_text(insert_, 2, run_id.data(), static_cast<int>(run_id.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 3, r.count);
    sqlite3_bind_int(insert_, 4, static_cast<int>(e.type));
    sqlite3_bind_text(insert_, 5, e.kind.data(), static_cast<int>(e.kind.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 6, e.time_ms);
    sqlite3_bind_int64(insert_, 7, e.pid);
    sqlite3_bind_blob(insert_, 8, e.body.data(), static_cast<int>(e.body.size()), SQLITE_STATIC);
    sqlite3_bind_blob(insert_, 9, h.data(), static_cast<int>(h.size()), SQLITE_STATIC);
    int rc = sqlite3_step(insert_);
    sqlite3_reset(insert_);
    if (rc != SQLITE_DONE) {
      why = sql_error(db_, "insert");
      break;
    }
    r.count++;
    r.head = std::move(h);
    dirty_.insert(run_id);
    touched_.insert(run_id);
    note_metadata(e, run_id);
    records_++;
  }
  if (why.empty())
    if (auto st = flush_runs(); !st) why = st.error();
  if (why.empty())
    if (auto st = step_cached("COMMIT"); !st) why = st.error();  // a full disk fails here, after every insert took
  if (why.empty()) return {};
  (void)step_cached("ROLLBACK");
  // The in-memory chains are now ahead of the database: read them again, so
  // the next append and seal go on from what was committed (a seal naming
  // records that never landed would read as a deletion to `verify`).
  auto dirty = std::move(dirty_);
  runs_.clear();
  meta_.clear();
  dirty_.clear();
  touched_.clear();
  seq_ = 0;
  sqlite3_finalize(insert_);
  insert_ = nullptr;
  (void)init();
  for (const auto& id : dirty)  // committed earlier and not sealed yet: still to seal
    if (runs_.count(id)) dirty_.insert(id);
  return make_error(why);
}

// The runs table: a convenience index for `runs` and retention; verify trusts
// only the records and the seals.
Status Writer::flush_runs() {
  sqlite3_stmt* up = cached(
      "INSERT INTO runs(job_id, records, head, last_ms, alerts, end_ms) VALUES(?1,?2,?3,?4,?5,?6) "
      "ON CONFLICT(job_id) DO UPDATE SET records=?2, head=?3, last_ms=MAX(last_ms,?4), "
      "alerts=alerts+?5");
  sqlite3_stmt* info = cached(
      "UPDATE runs SET policy=?2, name=?3, info=?4, root_pid=?5, "
      "start_ms=CASE WHEN ?6>0 THEN ?6 ELSE start_ms END, "
      "end_ms=CASE WHEN ?7>0 THEN ?7 ELSE end_ms END WHERE job_id=?1");
  sqlite3_stmt* ex = cached("UPDATE runs SET exit_code=?2, exit_signal=?3 WHERE job_id=?1");
  if (!up || !info || !ex) return make_error(sql_error(db_, "runs"));
  Status result;
  for (const auto& id : touched_) {
    const Run& r = runs_[id];
    const Meta& m = meta_[id];
    sqlite3_bind_text(up, 1, id.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(up, 2, r.count);
    sqlite3_bind_blob(up, 3, r.head.data(), static_cast<int>(r.head.size()), SQLITE_STATIC);
    sqlite3_bind_int64(up, 4, m.last_ms);
    sqlite3_bind_int64(up, 5, m.alerts);
    // A host-DATE run ends with its day.
    int64_t end = 0;
    if (id.rfind("host-", 0) == 0) end = (m.last_ms / 86400000 + 1) * 86400000;
    sqlite3_bind_int64(up, 6, end);
    if (sqlite3_step(up) != SQLITE_DONE) result = make_error(sql_error(db_, "runs"));
    sqlite3_reset(up);
    if (m.info) {
      std::string blob;
      m.info->SerializeToString(&blob);
      sqlite3_bind_text(info, 1, id.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(info, 2, m.info->policy().c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(info, 3, m.info->name().c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_blob(info, 4, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
      sqlite3_bind_int64(info, 5, m.root_pid);
      sqlite3_bind_int64(info, 6, m.start_ms);
      sqlite3_bind_int64(info, 7, m.end_ms);
      if (sqlite3_step(info) != SQLITE_DONE) result = make_error(sql_error(db_, "runs info"));
      sqlite3_reset(info);
    }
    if (m.exit_code || m.exit_signal) {
      sqlite3_bind_text(ex, 1, id.c_str(), -1, SQLITE_STATIC);
      if (m.exit_code) sqlite3_bind_int(ex, 2, *m.exit_code);
      else sqlite3_bind_null(ex, 2);
      if (m.exit_signal) sqlite3_bind_int(ex, 3, *m.exit_signal);
      else sqlite3_bind_null(ex, 3);
      sqlite3_step(ex);
      sqlite3_reset(ex);
    }
  }
  touched_.clear();
  meta_.clear();
  return result;
}

Status Writer::write_seal(int64_t now_ms, const std::string& kind, const std::string& body) {
  int64_t n = seal_n_ + 1;
  std::string h = seal_hash(seal_head_, n, now_ms, kind, body);
  std::string mac = hmac_sha256(key_, h);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_, "INSERT INTO seals(n, time_ms, kind, body, hash, mac) VALUES(?,?,?,?,?,?)", -1, &s, nullptr);
  sqlite3_bind_int64(s, 1, n);
  sqlite3_bind_int64(s, 2, now_ms);
  sqlite3_bind_text(s, 3, kind.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, body.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_blob(s, 5, h.data(), static_cast<int>(h.size()), SQLITE_STATIC);
  sqlite3_bind_blob(s, 6, mac.data(), static_cast<int>(mac.size()), SQLITE_STATIC);
  int rc = sqlite3_step(s);
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return make_error(sql_error(db_, "seal"));
  seal_n_ = n;
  seal_head_ = std::move(h);
  seals_++;
  return {};
}

Status Writer::seal(int64_t now_ms) {
  if (dirty_.empty()) return {};
  std::string body;
  for (const auto& id : dirty_) {
    const Run& r = runs_[id];
    body += id + " " + std::to_string(r.count) + " " + hex(r.head) + "\n";
  }
  if (auto st = exec("BEGIN IMMEDIATE"); !st) return st;
  // A seal the disk refused is not one: the next seal takes its number.
  int64_t n0 = seal_n_;
  std::string head0 = seal_head_;
  auto seals0 = seals_;
  auto undo = [&](Status st) {
    (void)exec("ROLLBACK");
    seal_n_ = n0;
    seal_head_ = std::move(head0);
    seals_ = seals0;
    return st;
  };
  if (auto st = write_seal(now_ms, "seal", body); !st) return undo(std::move(st));
  if (auto st = exec("COMMIT"); !st) return undo(std::move(st));
  dirty_.clear();
  return {};
}

Result<int> Writer::prune(int64_t now_ms, uint32_t retention_days, uint64_t max_bytes) {
  // Candidates: ended runs (or silent ones: a daemon that died never wrote
  // their job_end), oldest first.
  std::vector<std::pair<std::string, int64_t>> ended;
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_,
                     "SELECT job_id, MAX(end_ms, last_ms) AS t, end_ms FROM runs ORDER BY t ASC", -1, &s, nullptr);
  while (sqlite3_step(s) == SQLITE_ROW) {
    std::string id = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    int64_t t = sqlite3_column_int64(s, 1);
    int64_t end = sqlite3_column_int64(s, 2);
    bool live = end == 0 && now_ms - t < int64_t{86400000};  // a live job, or one quiet for less than a day
    if (!live && end <= now_ms) ended.emplace_back(std::move(id), t);
  }
  sqlite3_finalize(s);
  int dropped = 0;
  auto drop = [&](const std::string& id) -> Status {
    // Seal what grew first: the prune seal then names the run's final head.
    if (auto st = seal(now_ms); !st) return st;
    const Run& r = runs_[id];
    std::string body = id + " " + std::to_string(r.count) + " " + hex(r.head.empty() ? run_genesis(id) : r.head) + "\n";
    if (auto st = exec("BEGIN IMMEDIATE"); !st) return st;
    std::string max_seq = "INSERT OR REPLACE INTO meta VALUES('max_seq','" + std::to_string(seq_) + "')";
    sqlite3_stmt* d = nullptr;
    Status result;
    for (const char* sql : {"DELETE FROM records WHERE job_id=?", "DELETE FROM runs WHERE job_id=?"}) {
      sqlite3_prepare_v2(db_, sql, -1, &d, nullptr);
      sqlite3_bind_text(d, 1, id.c_str(), -1, SQLITE_STATIC);
      if (sqlite3_step(d) != SQLITE_DONE) result = make_error(sql_error(db_, "prune"));
      sqlite3_finalize(d);
    }
    if (result) result = exec(max_seq.c_str());
    if (result) result = write_seal(now_ms, "prune", body);
    if (!result) {
      (void)exec("ROLLBACK");
      return result;
    }
    if (auto st = exec("COMMIT"); !st) return st;
    runs_.erase(id);
    dirty_.erase(id);
    pruned_++;
    dropped++;
    return {};
  };
  size_t i = 0;
  if (retention_days) {
    int64_t cutoff = now_ms - static_cast<int64_t>(retention_days) * 86400000;
    for (; i < ended.size() && ended[i].second < cutoff; ++i)
      if (auto st = drop(ended[i].first); !st) return make_error(st.error());
  }
  if (max_bytes) {
    for (; i < ended.size() && db_bytes() > max_bytes; ++i)
      if (auto st = drop(ended[i].first); !st) return make_error(st.error());
  }
  return dropped;
}

uint64_t Writer::db_bytes() {
  // Pages in use (freed pages are reused, so the file size overstates).
  sqlite3_stmt* s = nullptr;
  uint64_t pages = 0, free_pages = 0, size = 0;
  sqlite3_prepare_v2(db_, "SELECT * FROM pragma_page_count, pragma_freelist_count, pragma_page_size", -1, &s, nullptr);
  if (sqlite3_step(s) == SQLITE_ROW) {
    pages = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
    free_pages = static_cast<uint64_t>(sqlite3_column_int64(s, 1));
    size = static_cast<uint64_t>(sqlite3_column_int64(s, 2));
  }
  sqlite3_finalize(s);
  return (pages - free_pages) * size;
}

void Writer::checkpoint() { sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr); }

}  // namespace fts::journal
