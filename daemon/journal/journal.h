#pragma once
// The forensic journal: every job-scoped event, every alert and each job's
// metadata in an embedded SQLite database (WAL), tamper-evident.
//
// Chain design (why retention never looks like tampering, and deletion does):
//  - Each run (a job; alerts outside any job go to a per-day run "host-DATE")
//    is its own hash chain: record k of run R carries
//      hash_k = SHA-256(hash_{k-1} || seq || R || k || type || kind || time || pid || body)
//    with hash_{-1} = SHA-256("ftsentinel run " || R). Editing a record breaks
//    its hash; deleting or inserting one breaks the run's index sequence and
//    the next record's link.
//  - The heads are anchored in one global seal chain: every seal_interval (and
//    at a job's end and at shutdown) the writer appends a seal listing, for each
//    run that grew, (run, record count, head hash); seal n carries
//      hash_n = SHA-256(hash_{n-1} || n || time || kind || body),  mac_n = HMAC-SHA-256(key, hash_n)
//    under a root-only key in the state dir. Someone who rewrites a run's whole
//    chain consistently still cannot forge the seal that named its old head.
//  - Retention drops whole runs only, and says so in the seal chain: a "prune"
//    seal records the dropped run's count and head. `verify` then expects no
//    records of that run; a run that a seal names, that was not pruned and has
//    fewer records than sealed, was deleted from.
// What it cannot show: records newer than the last seal (counted as
// "unsealed"), and the loss of the newest seals themselves (truncation of the
// whole tail); the seal count is also logged by the daemon for that reason.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/v1.h"
#include "ftsentinel/v1/alert.pb.h"
#include "ftsentinel/v1/event.pb.h"
#include "ftsentinel/v1/journal.pb.h"

struct sqlite3;
struct sqlite3_stmt;

namespace fts::journal {

inline constexpr int kSchemaVersion = 1;

enum class RecordType : int { kEvent = 0, kAlert = 1 };

// One record to append, already serialized (the pipeline thread pays for it,
// the writer thread only hashes and inserts).
struct Entry {
  std::string job_id;  // empty: an alert outside any job (goes to host-DATE)
  RecordType type = RecordType::kEvent;
  std::string kind;    // the event's kind, or the alert's rule
  int64_t time_ms = 0;
  uint32_t pid = 0;
  std::string body;    // serialized v1::Event or v1::Alert
};

Entry entry_of(const v1::Event& e);
Entry entry_of(const v1::Alert& a);

// The run an alert outside any job is filed under: one per UTC day.
std::string host_run_id(int64_t time_ms);

// The HMAC key: read, or made (32 random bytes, mode 0600) when absent.
Result<std::string> load_or_create_key(const std::string& path);
Result<std::string> load_key(const std::string& path);

// SHA-256 helpers shared by the writer and verify.
std::string run_genesis(const std::string& job_id);
std::string record_hash(const std::string& prev, int64_t seq, const std::string& job_id, int64_t idx, int type,
                        const std::string& kind, int64_t time_ms, int64_t pid, const std::string& body);
std::string seal_hash(const std::string& prev, int64_t n, int64_t time_ms, const std::string& kind,
                      const std::string& body);
std::string hmac_sha256(const std::string& key, const std::string& data);
std::string hex(const std::string& bytes);

// The writer's side: one thread only.
class Writer {
 public:
  static Result<std::unique_ptr<Writer>> open(const std::string& path, std::string key);
  ~Writer();

  // One transaction for the whole batch.
  Status append(const std::vector<Entry>& batch);
  // Seals the heads of the runs that grew since the last seal (none: no-op).
  Status seal(int64_t now_ms);
  // Drops whole runs: ended more than retention_days ago, then the oldest
  // ended ones while the database is over max_bytes. Live runs stay.
  Result<int> prune(int64_t now_ms, uint32_t retention_days, uint64_t max_bytes);
  // Moves the WAL into the database file (a copied .db is then complete).
  void checkpoint();

  uint64_t records() const { return records_; }
  uint64_t seals() const { return seals_; }
  uint64_t pruned() const { return pruned_; }
  uint64_t db_bytes();

 private:
  struct Run {
    int64_t count = 0;
    std::string head;
    bool in_table = false;
    uint32_t root_pid = 0;  // the job's root process (its exit is the run's), once known
  };
  Writer(sqlite3* db, std::string key) : db_(db), key_(std::move(key)) {}
  Status init();
  Status exec(const char* sql);
  // A statement prepared once and kept (the batch's BEGIN, COMMIT and runs
  // updates run for every append: parsing them each time was a third of the
  // journal thread's CPU at one record per batch), reset after each use.
  sqlite3_stmt* cached(const char* sql);
  Status step_cached(const char* sql);
  Status write_seal(int64_t now_ms, const std::string& kind, const std::string& body);
  void note_metadata(const Entry& e, const std::string& run_id);
  Status flush_runs();

  sqlite3* db_;
  std::string key_;
  sqlite3_stmt* insert_ = nullptr;
  std::map<const char*, sqlite3_stmt*> cached_;  // by the literal's address
  std::map<std::string, Run> runs_;
  std::set<std::string> dirty_;        // grew since the last seal
  std::set<std::string> touched_;      // grew since the runs table was updated
  struct Meta {
    std::optional<v1::Job> info;
    int64_t start_ms = 0, end_ms = 0, last_ms = 0;
    std::optional<int32_t> exit_code, exit_signal;
    uint32_t root_pid = 0;
    int64_t alerts = 0;
  };
  std::map<std::string, Meta> meta_;   // runs touched in this batch
  int64_t seq_ = 0;
  int64_t seal_n_ = 0;
  std::string seal_head_;
  uint64_t records_ = 0, seals_ = 0, pruned_ = 0;
};

// The readers' side: opens read-only, works while the daemon writes (WAL) and
// on a copied file.
class Reader {
 public:
  static Result<std::unique_ptr<Reader>> open(const std::string& path);
  ~Reader();
  const std::string& path() const { return path_; }

  Result<std::vector<v1::RunSummary>> runs();  // newest first
  // A job by id or unique id prefix.
  Result<v1::RunSummary> run(const std::string& job);

  struct Record {
    int64_t seq = 0;
    std::string job_id;
    int64_t idx = 0;
    RecordType type = RecordType::kEvent;
    std::string kind;
    int64_t time_ms = 0;
    uint32_t pid = 0;
    std::string body;
    std::string hash;
  };
  // The run's records in journal order.
  Status each(const std::string& job_id, const std::function<void(const Record&)>& fn);

  // Walks every chain and the seal chain. key empty: hashes only, no MACs.
  Result<v1::VerifyReport> verify(const std::string& key);

 private:
  Reader(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

}  // namespace fts::journal
