// The journal on synthetic events: what review shows, export round-trips,
// verify names each kind of tampering, retention drops whole runs only.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/time.h"
#include "journal/journal.h"
#include "journal/review.h"
#include "journal/sink.h"

namespace fts::journal {
namespace {

namespace fs = std::filesystem;

const std::string kShardHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

std::string at(int64_t ms) { return rfc3339(static_cast<uint64_t>(ms) * 1000000ull); }

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fts-journal-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "journal.db").string();
    auto k = load_or_create_key((dir_ / "journal.key").string());
    ASSERT_TRUE(k) << k.error();
    key_ = *k;
    t0_ = static_cast<int64_t>(now_wall_ns() / 1000000) - 60000;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<JournalSink> sink(size_t queue = 65536) {
    SinkOptions o;
    o.path = path_;
    o.key = key_;
    o.queue = queue;
    o.seal_interval_ms = 3600000;  // sealed at job_end and at close only
    o.retention_days = 0;          // the tests call prune themselves
    auto s = JournalSink::open(o);
    EXPECT_TRUE(s) << (s ? "" : s.error());
    return std::move(*s);
  }

  v1::Event event(const std::string& job, const std::string& kind, int64_t ms, uint32_t pid, uint32_t ppid,
                  const std::string& exe, std::vector<std::string> args = {}) {
    v1::Event e;
    e.set_id(++id_);
    e.set_time(at(ms));
    e.set_host("test");
    e.set_kind(kind);
    e.mutable_job()->set_id(job);
    e.mutable_job()->set_policy("llm");
    e.mutable_job()->set_name("sft");
    auto* p = e.mutable_process();
    p->set_pid(pid);
    p->set_tid(pid);
    p->set_ppid(ppid);
    p->set_start_time(at(t0_ + pid));
    p->set_exe(exe);
    for (auto& a : args) p->add_args(a);
    return e;
  }

  // A job: python train.py reads two shards (hashed), writes a checkpoint,
  // connects to a not-allowed server and sends 4096 bytes; one alert.
  std::vector<std::variant<v1::Event, v1::Alert>> run(const std::string& job, int64_t start) {
    std::vector<std::variant<v1::Event, v1::Alert>> out;
    v1::Event s = event(job, "job_start", start, 100, 1, "/usr/bin/python3", {"python3", "train.py"});
    auto* info = s.mutable_job_info();
    info->set_id(job);
    info->set_policy("llm");
    info->set_name("sft");
    info->set_mode("monitor");
    info->set_started_by("run");
    info->set_start_time(at(start));
    info->set_root_pid(100);
    (*info->mutable_labels())["SLURM_JOB_ID"] = "42";
    out.push_back(s);
    out.push_back(event(job, "exec", start + 1, 100, 1, "/usr/bin/python3", {"python3", "train.py"}));
    out.push_back(event(job, "fork", start + 2, 101, 100, "/usr/bin/python3", {"python3", "train.py"}));
    for (int i = 0; i < 2; ++i) {
      std::string shard = "/data/approved/shard-" + std::to_string(i) + ".jsonl";
      v1::Event f = event(job, "file", start + 3 + i, 101, 100, "/usr/bin/python3");
      f.mutable_file()->set_path(shard);
      f.mutable_file()->set_op("open");
      f.mutable_file()->add_access("read");
      f.mutable_file()->add_classes("training");
      f.mutable_file()->add_classes("protected");
      out.push_back(f);
      v1::Event h = event(job, "file_hash", start + 5 + i, 101, 100, "/usr/bin/python3");
      h.mutable_file()->set_path(shard);
      h.mutable_hash()->set_sha256(i == 0 ? kShardHash : std::string(64, 'a'));
      h.mutable_hash()->set_size(1000 + static_cast<uint64_t>(i));
      out.push_back(h);
    }
    v1::Event w = event(job, "file", start + 8, 100, 1, "/usr/bin/python3");
    w.mutable_file()->set_path("/ckpt/checkpoint-1/model.pt");
    w.mutable_file()->set_op("open");
    w.mutable_file()->add_access("write");
    w.mutable_file()->add_access("create");
    w.mutable_file()->add_classes("outputs");
    out.push_back(w);
    v1::Event c = event(job, "network", start + 9, 100, 1, "/usr/bin/python3");
    c.mutable_network()->set_op("connect");
    c.mutable_network()->set_protocol("tcp");
    c.mutable_network()->set_daddr("127.0.0.1");
    c.mutable_network()->set_dport(9999);
    c.mutable_network()->set_verdict("not_allowed");
    out.push_back(c);
    v1::Event fl = c;
    fl.set_id(++id_);
    fl.set_time(at(start + 10));
    fl.mutable_network()->set_op("flow");
    fl.mutable_network()->set_bytes(4096);
    fl.mutable_network()->set_total_bytes(4096);
    out.push_back(fl);
    v1::Alert a;
    a.set_id("alert-" + job);
    a.set_time(at(start + 10));
    a.set_rule("exfil-chain");
    a.set_severity("critical");
    a.set_action("alerted");
    *a.mutable_job() = c.job();
    *a.mutable_process() = c.process();
    a.set_message("read training data, then sent 4096 bytes to 127.0.0.1:9999");
    a.add_evidence(fl.id());
    out.push_back(a);
    v1::Event x = event(job, "exit", start + 11, 101, 100, "/usr/bin/python3");
    x.mutable_exit()->set_code(0);
    out.push_back(x);
    x = event(job, "exit", start + 12, 100, 1, "/usr/bin/python3");
    x.mutable_exit()->set_code(3);
    out.push_back(x);
    v1::Event e = s;
    e.set_id(++id_);
    e.set_kind("job_end");
    e.set_time(at(start + 13));
    e.mutable_job_info()->set_end_time(at(start + 13));
    out.push_back(e);
    return out;
  }

  void write_all(JournalSink& s, const std::vector<std::variant<v1::Event, v1::Alert>>& recs) {
    for (const auto& r : recs) {
      if (auto* e = std::get_if<v1::Event>(&r)) s.write(*e);
      else s.write_alert(std::get<v1::Alert>(r));
    }
    s.drain();
  }

  void sql(const std::string& q) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    int rc = sqlite3_exec(db, q.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in " << q;
    sqlite3_free(err);
    sqlite3_close(db);
  }

  v1::VerifyReport verify() {
    auto r = Reader::open(path_);
    EXPECT_TRUE(r) << (r ? "" : r.error());
    auto rep = (*r)->verify(key_);
    EXPECT_TRUE(rep) << (rep ? "" : rep.error());
    return *rep;
  }

  fs::path dir_;
  std::string path_, key_;
  int64_t t0_ = 0;
  uint64_t id_ = 0;
};

TEST_F(JournalTest, ReviewShowsTreeDataPeersAndAlerts) {
  {
    auto s = sink();
    write_all(*s, run("00000000000000aa", t0_));
  }
  auto r = Reader::open(path_);
  ASSERT_TRUE(r) << r.error();
  auto runs = (*r)->runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].job().id(), "00000000000000aa");
  EXPECT_EQ((*runs)[0].job().policy(), "llm");
  EXPECT_EQ((*runs)[0].alerts(), 1u);
  EXPECT_EQ((*runs)[0].records(), 14u);
  EXPECT_EQ((*runs)[0].exit_code(), 3);  // the root's, not the child's
  EXPECT_FALSE((*runs)[0].job().end_time().empty());

  auto loaded = load_run(**r, "00000000000000");  // a unique prefix
  ASSERT_TRUE(loaded) << loaded.error();
  v1::Review rv = review(*loaded);
  ASSERT_EQ(rv.processes_size(), 1);
  EXPECT_EQ(rv.processes(0).pid(), 100u);
  EXPECT_EQ(rv.processes(0).args(1), "train.py");
  EXPECT_EQ(rv.processes(0).exit_code(), 3);
  ASSERT_EQ(rv.processes(0).children_size(), 1);
  EXPECT_EQ(rv.processes(0).children(0).pid(), 101u);
  ASSERT_EQ(rv.read_size(), 2);
  EXPECT_EQ(rv.read(0).path(), "/data/approved/shard-0.jsonl");
  EXPECT_EQ(rv.read(0).sha256(), kShardHash);
  EXPECT_EQ(rv.read(0).size(), 1000u);
  ASSERT_EQ(rv.read_by_class_size(), 2);
  ASSERT_EQ(rv.written_size(), 1);
  EXPECT_EQ(rv.written(0).path(), "/ckpt/checkpoint-1/model.pt");
  ASSERT_EQ(rv.peers_size(), 1);
  EXPECT_EQ(rv.peers(0).daddr(), "127.0.0.1");
  EXPECT_EQ(rv.peers(0).bytes(), 4096u);
  EXPECT_EQ(rv.peers(0).verdict(), "not_allowed");
  ASSERT_EQ(rv.alerts_size(), 1);
  EXPECT_EQ(rv.alerts(0).rule(), "exfil-chain");
  std::string text = format_review(rv);
  EXPECT_NE(text.find(kShardHash), std::string::npos) << text;
  EXPECT_NE(text.find("4096 bytes sent"), std::string::npos) << text;

  TimelineFilter f;
  f.kinds = {"file"};
  EXPECT_EQ(timeline(*loaded, f).entries_size(), 3);
  f = {};
  f.pid = 101;
  EXPECT_EQ(timeline(*loaded, f).entries_size(), 6);
  auto bounded = parse_time_bounds({}, at(t0_ + 9), at(t0_ + 10));
  ASSERT_TRUE(bounded);
  EXPECT_EQ(timeline(*loaded, *bounded).entries_size(), 3);  // connect, flow, alert
  EXPECT_FALSE(parse_time_bounds({}, "yesterday", ""));

  std::string html = html_report(rv, timeline(*loaded, {}));
  EXPECT_NE(html.find("exfil-chain"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // no fetch, only the SVG namespace
  EXPECT_EQ(html.find("https://"), std::string::npos);
}

// Two processes that share a pid are two processes however close their
// starts; one process is one, however its start time is rendered. The kernel's
// start (ticks since boot) keys them; rows without it match by wall time.
class ReviewIdentityTest : public JournalTest {
 protected:
  static constexpr uint32_t kPid = 200;
  static constexpr uint64_t kTicks = 123456;  // 1234.56 s after boot

  // A record about pid 200: the nth incarnation (0, 1) started 0.3 s (30
  // ticks) after the previous one; jitter_us shifts only the rendered wall
  // time, as a per-record boot-to-wall offset would.
  v1::Event about(int nth, const std::string& kind, int64_t ms, int jitter_us, bool with_ticks) {
    v1::Event e = event(kJob, kind, ms, kPid, 100, nth ? "/usr/bin/curl" : "/usr/bin/python3");
    int64_t start_us = (t0_ + 1000) * 1000 + nth * 300000 + jitter_us;
    e.mutable_process()->set_start_time(rfc3339(static_cast<uint64_t>(start_us) * 1000ull));
    if (with_ticks) e.mutable_process()->set_start_ticks(kTicks + static_cast<uint64_t>(nth) * 30);
    return e;
  }

  // Incarnation 0 in four records (exec, two reads, exit), then incarnation
  // 1 (exec, exit), then a late alert about incarnation 0.
  v1::Review two_incarnations(bool with_ticks) {
    std::vector<std::variant<v1::Event, v1::Alert>> recs;
    int64_t ms = t0_ + 2000;
    recs.push_back(event(kJob, "exec", ms++, 100, 1, "/usr/bin/bash"));
    recs.push_back(about(0, "exec", ms++, 0, with_ticks));
    for (int jitter : {3, -2}) {
      v1::Event f = about(0, "file", ms++, jitter, with_ticks);
      f.mutable_file()->set_path("/data/approved/shard-" + std::to_string(jitter) + ".jsonl");
      f.mutable_file()->set_op("open");
      f.mutable_file()->add_access("read");
      recs.push_back(f);
    }
    v1::Event x = about(0, "exit", ms++, 5, with_ticks);
    x.mutable_exit()->set_code(0);
    recs.push_back(x);
    recs.push_back(about(1, "exec", ms++, 0, with_ticks));
    x = about(1, "exit", ms++, 1, with_ticks);
    x.mutable_exit()->set_code(7);
    recs.push_back(x);
    v1::Alert a;
    a.set_id("late");
    a.set_time(at(ms));
    a.set_rule("unapproved-data-read");
    a.set_severity("medium");
    *a.mutable_job() = x.job();
    *a.mutable_process() = about(0, "file", ms, 4, with_ticks).process();
    recs.push_back(a);
    {
      auto s = sink();
      write_all(*s, recs);
    }
    auto r = Reader::open(path_);
    EXPECT_TRUE(r) << (r ? "" : r.error());
    auto loaded = load_run(**r, kJob);
    EXPECT_TRUE(loaded) << (loaded ? "" : loaded.error());
    return review(*loaded);
  }

  void expect_two_incarnations(const v1::Review& rv) {
    ASSERT_EQ(rv.processes_size(), 1) << to_json(rv, true);
    const auto& bash = rv.processes(0);
    EXPECT_EQ(bash.pid(), 100u);
    ASSERT_EQ(bash.children_size(), 2) << to_json(rv, true);
    const auto& first = bash.children(0);
    const auto& second = bash.children(1);
    EXPECT_EQ(first.pid(), kPid);
    EXPECT_EQ(first.exe(), "/usr/bin/python3");
    EXPECT_EQ(first.exit_code(), 0);
    EXPECT_EQ(first.alerts(), 1u);  // the late alert names the first, not the latest
    EXPECT_EQ(second.pid(), kPid);
    EXPECT_EQ(second.exe(), "/usr/bin/curl");
    EXPECT_EQ(second.exit_code(), 7);
    EXPECT_EQ(second.alerts(), 0u);
    EXPECT_EQ(first.children_size() + second.children_size(), 0);
  }

  const std::string kJob = "00000000000000ee";
};

TEST_F(ReviewIdentityTest, SamePidStartedAThirdOfASecondApartIsTwoProcessesByKernelStart) {
  expect_two_incarnations(two_incarnations(true));
}

TEST_F(ReviewIdentityTest, RowsWithoutKernelStartMatchByWallTimeNotWithinASecond) {
  expect_two_incarnations(two_incarnations(false));
}

TEST_F(ReviewIdentityTest, OneProcessInManyRecordsIsOneProcess) {
  std::vector<std::variant<v1::Event, v1::Alert>> recs;
  for (int i = 0; i < 20; ++i) {
    // The same kernel start; the rendered start wanders by microseconds.
    v1::Event f = about(0, "file", t0_ + 2000 + i, (i * 7) % 11 - 5, true);
    f.mutable_file()->set_path("/data/approved/shard-" + std::to_string(i) + ".jsonl");
    f.mutable_file()->set_op("open");
    f.mutable_file()->add_access("read");
    recs.push_back(f);
  }
  {
    auto s = sink();
    write_all(*s, recs);
  }
  auto r = Reader::open(path_);
  ASSERT_TRUE(r) << r.error();
  auto loaded = load_run(**r, kJob);
  ASSERT_TRUE(loaded) << loaded.error();
  v1::Review rv = review(*loaded);
  ASSERT_EQ(rv.processes_size(), 1) << to_json(rv, true);
  EXPECT_EQ(rv.processes(0).pid(), kPid);
  EXPECT_EQ(rv.read_size(), 20);
  for (const auto& d : rv.read()) EXPECT_EQ(d.pids_size(), 1);
}

// The chain's hash format is the journal's on-disk contract: a journal
// written by an older daemon must verify with a newer one. The expected
// digests are computed independently (Python hashlib over the documented
// layout: previous hash, integers as 8 bytes little-endian, strings
// length-prefixed).
TEST(JournalHashFormat, RecordAndSealHashesAreStable) {
  std::string zero(32, '\0');
  EXPECT_EQ(hex(record_hash(zero, 7, "00000000000000aa", 3, 1, "exfil-chain", 1764547200000, 4242, "body")),
            "f242e0261f1ef650fca27f8ad96a31eba212a5bd07a7694e984634a6638f1082");
  EXPECT_EQ(hex(seal_hash(zero, 2, 1764547200000, "seal", "00000000000000aa 4 ab")),
            "3357d76950223e06f6850ee4030395869df620ff1caeb1196b2c969c5ad36b8e");
}

TEST_F(JournalTest, ExportRoundTrips) {
  auto recs = run("00000000000000bb", t0_);
  {
    auto s = sink();
    write_all(*s, recs);
  }
  auto r = Reader::open(path_);
  ASSERT_TRUE(r);
  auto loaded = load_run(**r, "00000000000000bb");
  ASSERT_TRUE(loaded);
  std::istringstream in(export_run(*loaded, false));
  std::string line;
  size_t i = 0;
  for (; std::getline(in, line); ++i) {
    ASSERT_LT(i, recs.size());
    google::protobuf::util::JsonParseOptions o;
    if (auto* want = std::get_if<v1::Event>(&recs[i])) {
      v1::Event got;
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &got, o).ok()) << line;
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got, *want)) << line;
    } else {
      v1::Alert got;
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &got, o).ok()) << line;
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got, std::get<v1::Alert>(recs[i]))) << line;
    }
  }
  EXPECT_EQ(i, recs.size());
  std::string ocsf = export_run(*loaded, true);
  EXPECT_NE(ocsf.find("\"class_uid\":2004"), std::string::npos);  // the alert as a Detection Finding
}

TEST_F(JournalTest, VerifyIntactThenNamesAnEditedRecord) {
  {
    auto s = sink();
    write_all(*s, run("00000000000000cc", t0_));
    write_all(*s, run("00000000000000dd", t0_ + 100));
  }
  auto ok = verify();
  EXPECT_TRUE(ok.intact()) << format_verify(ok);
  EXPECT_EQ(ok.records(), 28u);
  EXPECT_EQ(ok.unsealed(), 0u);
  EXPECT_TRUE(ok.macs_checked());
  sql("UPDATE records SET pid = pid + 1 WHERE job_id='00000000000000dd' AND kind='file' AND idx=5");
  auto bad = verify();
  ASSERT_FALSE(bad.intact());
  EXPECT_EQ(bad.problems(0).what(), "changed") << format_verify(bad);
  EXPECT_EQ(bad.problems(0).job(), "00000000000000dd");
  EXPECT_EQ(bad.problems(0).index(), 5u);
}

TEST_F(JournalTest, VerifyNamesADeletedRecordAndADeletedRun) {
  {
    auto s = sink();
    write_all(*s, run("00000000000000cc", t0_));
    write_all(*s, run("00000000000000dd", t0_ + 100));
  }
  sql("DELETE FROM records WHERE job_id='00000000000000cc' AND idx=4");
  auto bad = verify();
  ASSERT_FALSE(bad.intact());
  EXPECT_EQ(bad.problems(0).what(), "deleted") << format_verify(bad);
  EXPECT_EQ(bad.problems(0).job(), "00000000000000cc");
  EXPECT_EQ(bad.problems(0).index(), 4u);
  // The newest record of a sealed run, and a whole run, too.
  sql("DELETE FROM records WHERE job_id='00000000000000dd'");
  bad = verify();
  ASSERT_EQ(bad.problems_size(), 2) << format_verify(bad);
  EXPECT_EQ(bad.problems(1).what(), "deleted");
  EXPECT_EQ(bad.problems(1).job(), "00000000000000dd");
}

TEST_F(JournalTest, VerifyNamesAnInsertedRecord) {
  {
    auto s = sink();
    write_all(*s, run("00000000000000cc", t0_));
  }
  // A copy of record #3 put back as if it were another read at #3.
  sql("INSERT INTO records(job_id, idx, type, kind, time_ms, pid, body, hash) "
      "SELECT job_id, idx, type, kind, time_ms, pid, body, hash FROM records WHERE job_id='00000000000000cc' AND idx=3");
  auto bad = verify();
  ASSERT_FALSE(bad.intact());
  EXPECT_EQ(bad.problems(0).what(), "inserted") << format_verify(bad);
  EXPECT_EQ(bad.problems(0).seq(), 15u);
}

TEST_F(JournalTest, AConsistentRewriteWithoutTheKeyIsCaughtBySeals) {
  {
    auto s = sink();
    write_all(*s, run("00000000000000cc", t0_));
  }
  // An attacker who knows the scheme but not the key: change a record and
  // recompute every hash after it.
  {
    auto r = Reader::open(path_);
    ASSERT_TRUE(r);
    std::vector<Reader::Record> recs;
    ASSERT_TRUE((*r)->each("00000000000000cc", [&](const Reader::Record& x) { recs.push_back(x); }));
    std::string prev = run_genesis("00000000000000cc");
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    for (auto& x : recs) {
      if (x.idx == 3) x.pid = 4242;
      x.hash = record_hash(prev, x.seq, x.job_id, x.idx, static_cast<int>(x.type), x.kind, x.time_ms, x.pid, x.body);
      prev = x.hash;
      sqlite3_stmt* s = nullptr;
      sqlite3_prepare_v2(db, "UPDATE records SET pid=?, hash=? WHERE seq=?", -1, &s, nullptr);
      sqlite3_bind_int64(s, 1, x.pid);
      sqlite3_bind_blob(s, 2, x.hash.data(), static_cast<int>(x.hash.size()), SQLITE_STATIC);
      sqlite3_bind_int64(s, 3, x.seq);
      ASSERT_EQ(sqlite3_step(s), SQLITE_DONE);
      sqlite3_finalize(s);
    }
    sqlite3_close(db);
  }
  auto bad = verify();
  ASSERT_FALSE(bad.intact());
  EXPECT_EQ(bad.problems(0).what(), "rewritten") << format_verify(bad);
  // And a forged seal over the new head is refused by its HMAC.
  sql("UPDATE seals SET mac = zeroblob(32) WHERE n = 1");
  bad = verify();
  EXPECT_EQ(bad.problems(0).what(), "seal_forged") << format_verify(bad);
}

TEST_F(JournalTest, RetentionDropsWholeRunsAndVerifyStaysIntact) {
  int64_t day = 86400000;
  {
    auto s = sink();
    write_all(*s, run("00000000000000e1", t0_ - 40 * day));  // ended 40 days ago
    write_all(*s, run("00000000000000e2", t0_));
    v1::Event live = event("00000000000000e3", "exec", t0_, 300, 1, "/usr/bin/python3");
    s->write(live);
    s->drain();
  }
  {
    auto w = Writer::open(path_, key_);
    ASSERT_TRUE(w);
    auto dropped = (*w)->prune(t0_ + 60000, 30, 0);
    ASSERT_TRUE(dropped) << dropped.error();
    EXPECT_EQ(*dropped, 1);
  }
  auto r = Reader::open(path_);
  ASSERT_TRUE(r);
  auto runs = (*r)->runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_FALSE((*r)->run("00000000000000e1"));
  int left = 0;
  ASSERT_TRUE((*r)->each("00000000000000e1", [&](const Reader::Record&) { ++left; }));
  EXPECT_EQ(left, 0);  // nothing half-kept
  auto rep = verify();
  EXPECT_TRUE(rep.intact()) << format_verify(rep);
  EXPECT_EQ(rep.pruned_runs(), 1u);

  // By size: the oldest ended run goes first, the live one stays.
  {
    auto w = Writer::open(path_, key_);
    ASSERT_TRUE(w);
    auto dropped = (*w)->prune(t0_ + 60000, 30, 1);
    ASSERT_TRUE(dropped);
    EXPECT_EQ(*dropped, 1);
  }
  auto r2 = Reader::open(path_);
  auto left_runs = (*r2)->runs();
  ASSERT_EQ(left_runs->size(), 1u);
  EXPECT_EQ((*left_runs)[0].job().id(), "00000000000000e3");
  EXPECT_TRUE(verify().intact());
}

TEST_F(JournalTest, AFullQueueIsCountedAndReported) {
  auto s = sink(1024);
  v1::Event e = event("00000000000000f1", "exec", t0_, 100, 1, "/bin/true");
  // The writer may take some while we push; at least the overflow is counted.
  for (int i = 0; i < 200000; ++i) s->write(e);
  s->drain();
  auto st = s->stats();
  EXPECT_GT(st.dropped, 0u);
  EXPECT_EQ(st.written + st.dropped, 200000u);
  EXPECT_EQ(s->take_lost(), st.dropped);
  EXPECT_EQ(s->take_lost(), 0u);
}

TEST_F(JournalTest, ClearErrorsForBadJournals) {
  EXPECT_NE(Reader::open((dir_ / "nope.db").string()).error().find("no such file"), std::string::npos);
  std::ofstream((dir_ / "junk.db").string()) << std::string(4096, 'x');
  auto junk = Reader::open((dir_ / "junk.db").string());
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.error().find("corrupt or not a journal"), std::string::npos) << junk.error();
  {
    auto s = sink();
    write_all(*s, run("00000000000000aa", t0_));
  }
  auto r = Reader::open(path_);
  ASSERT_TRUE(r);
  auto unknown = (*r)->run("ffff");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().find("no job 'ffff'"), std::string::npos);
  r->reset();
  sql("UPDATE meta SET value='99' WHERE key='schema_version'");
  auto newer = Reader::open(path_);
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.error().find("newer ftsentinel (schema 99"), std::string::npos) << newer.error();
  EXPECT_FALSE(Writer::open(path_, key_));
}

TEST_F(JournalTest, KeyIsMadeRootOnly) {
  struct stat st {};
  ASSERT_EQ(stat((dir_ / "journal.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  auto again = load_or_create_key((dir_ / "journal.key").string());
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, key_);
  chmod((dir_ / "journal.key").c_str(), 0644);
  EXPECT_FALSE(load_or_create_key((dir_ / "journal.key").string()));
}

}  // namespace
}  // namespace fts::journal
