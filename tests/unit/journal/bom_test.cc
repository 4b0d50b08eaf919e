// The observed ML-BOM: a run's journal records in, a CycloneDX 1.6 document
// out that names what the run read, loaded, imported, wrote and ran, with the
// digests the daemon took, and validates against the shipped schema.
#include "journal/bom.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

namespace fts::journal {
namespace {

using Json = nlohmann::json;

constexpr const char* kHost = "gpu-07";
constexpr const char* kShard = "/data/approved/shard-0.jsonl";
constexpr const char* kArrow = "/root/.cache/huggingface/datasets/squad/train.arrow";
constexpr const char* kBase = "/models/base/pytorch_model.bin";
constexpr const char* kRemote = "/root/.cache/huggingface/modules/transformers_modules/m/modeling_m.py";
constexpr const char* kCkpt = "/ckpt/checkpoint-10/model.safetensors";
constexpr const char* kLog = "/ckpt/train.log";
constexpr const char* kGone = "/ckpt/tmp-gone.bin";
const std::string kShaShard(64, 'a'), kShaArrow(64, 'b'), kShaBase(64, 'c'), kShaCkpt(64, 'd'), kShaNow(64, 'e');

class BomTest : public ::testing::Test {
 protected:
  v1::Event event(const std::string& kind, int ms, uint32_t pid = 300) {
    v1::Event e;
    e.set_kind(kind);
    e.set_host(kHost);
    e.set_time("2026-12-02T04:00:00." + std::to_string(100 + ms) + "Z");
    e.mutable_job()->set_id("00000000000000ee");
    e.mutable_process()->set_pid(pid);
    e.mutable_process()->set_ppid(pid == 100 ? 1 : 100);
    e.mutable_process()->set_exe(pid == 100 ? "/usr/bin/torchrun" : "/usr/bin/python3.11");
    return e;
  }
  void exec(uint32_t pid, int ms) { add(event("exec", ms, pid)); }
  void open(const std::string& path, const char* access, const char* cls, int ms) {
    v1::Event e = event("file", ms);
    e.mutable_file()->set_path(path);
    e.mutable_file()->set_op("open");
    e.mutable_file()->add_access(access);
    if (*cls) e.mutable_file()->add_classes(cls);
    add(e);
  }
  void hashed(const std::string& path, const std::string& sha, const char* reason, int ms, const char* error = "") {
    v1::Event e = event("file_hash", ms);
    e.mutable_file()->set_path(path);
    e.mutable_hash()->set_sha256(sha);
    e.mutable_hash()->set_size(1234);
    e.mutable_hash()->set_reason(reason);
    e.mutable_hash()->set_error(error);
    add(e);
  }
  void add(const v1::Event& e) {
    v1::TimelineEntry t;
    t.set_kind(e.kind());
    t.set_time(e.time());
    *t.mutable_event() = e;
    run_.entries.push_back(t);
  }

  // A run: torchrun starts a Python worker that reads a shard and a cached
  // Arrow file, loads the base model, fetches and imports remote code, and
  // writes a checkpoint (hashed), a log (never hashed) and a file whose hash
  // failed (gone).
  void SetUp() override {
    run_.run.mutable_job()->set_id("00000000000000ee");
    run_.run.mutable_job()->set_name("llama-ft");
    run_.run.mutable_job()->set_policy("llm-finetune");
    run_.run.mutable_job()->set_run("slurm:42");
    run_.run.mutable_job()->set_host(kHost);
    run_.run.mutable_job()->set_start_time("2026-12-02T04:00:00Z");
    exec(100, 0);
    exec(300, 1);
    open(kShard, "read", "training", 2);
    hashed(kShard, kShaShard, "read", 3);
    open(kArrow, "read", "training", 4);
    hashed(kArrow, kShaArrow, "read", 5);
    open(kBase, "read", "", 6);
    hashed(kBase, kShaBase, "read", 7);
    open(kRemote, "write", "", 8);
    open(kRemote, "read", "", 9);
    open(kCkpt, "write", "outputs", 10);
    hashed(kCkpt, kShaCkpt, "write", 11);
    open(kLog, "write", "outputs", 12);
    open(kGone, "write", "outputs", 13);
    hashed(kGone, "", "write", 14, "gone");
    open("/root/.aws/credentials", "read", "sensitive", 15);
    v1::Event mkdir = event("file", 16);
    mkdir.mutable_file()->set_path("/ckpt/checkpoint-10");
    mkdir.mutable_file()->set_op("mkdir");
    mkdir.mutable_file()->add_access("create");
    add(mkdir);
  }

  Json bom() {
    BomOptions o;
    o.serial_number = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79";
    o.timestamp = "2026-12-02T05:00:00Z";
    o.hash_now = [this](const std::string& path) -> std::optional<std::string> {
      hashed_now_.push_back(path);
      return kShaNow;
    };
    text_ = cyclonedx_bom(run_, review(run_), o);
    return Json::parse(text_);
  }

  static const Json* component(const Json& b, const std::string& ref) {
    for (const auto& c : b["components"])
      if (c["bom-ref"] == ref) return &c;
    return nullptr;
  }
  static std::string prop(const Json& c, const std::string& name) {
    for (const auto& p : c.value("properties", Json::array()))
      if (p["name"] == "ftsentinel:" + name) return p["value"];
    return "";
  }
  static std::string sha(const Json& c) { return c.contains("hashes") ? c["hashes"][0]["content"] : ""; }

  Loaded run_;
  std::vector<std::string> hashed_now_;
  std::string text_;
};

std::string ref(const char* use, const std::string& path) { return std::string(use) + ":" + kHost + ":" + path; }

TEST_F(BomTest, HeaderIsCycloneDx16WithTheRunAsItsSubject) {
  Json b = bom();
  EXPECT_EQ(b["bomFormat"], "CycloneDX");
  EXPECT_EQ(b["specVersion"], "1.6");
  EXPECT_EQ(b["serialNumber"], "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79");
  EXPECT_EQ(b["metadata"]["timestamp"], "2026-12-02T05:00:00Z");
  EXPECT_EQ(b["metadata"]["tools"]["components"][0]["name"], "ftsentinel");
  const Json& run = b["metadata"]["component"];
  EXPECT_EQ(run["name"], "llama-ft");
  EXPECT_EQ(prop(run, "job"), "00000000000000ee");
  EXPECT_EQ(prop(run, "policy"), "llm-finetune");
  EXPECT_EQ(prop(run, "run"), "slurm:42");
  EXPECT_EQ(prop(run, "hosts"), kHost);
}

TEST_F(BomTest, DataReadIsADatasetWithTheDaemonsDigestHostAndTime) {
  Json b = bom();
  for (auto [path, digest] : {std::pair{kShard, kShaShard}, std::pair{kArrow, kShaArrow}}) {
    const Json* c = component(b, ref("read", path));
    ASSERT_NE(c, nullptr) << path << "\n" << text_;
    EXPECT_EQ((*c)["type"], "data");
    EXPECT_EQ((*c)["data"][0]["type"], "dataset");
    EXPECT_EQ(sha(*c), digest);
    EXPECT_EQ((*c)["hashes"][0]["alg"], "SHA-256");
    EXPECT_EQ(prop(*c, "role"), "dataset");
    EXPECT_EQ(prop(*c, "host"), kHost);
    EXPECT_FALSE(prop(*c, "first_access").empty());
    EXPECT_EQ(prop(*c, "sha256_source"), "journal");
    EXPECT_EQ(prop(*c, "size"), "1234");
  }
  EXPECT_EQ(component(b, ref("read", "/root/.aws/credentials")), nullptr) << "a credential is an alert, not a part";
  EXPECT_EQ(component(b, ref("written", "/ckpt/checkpoint-10")), nullptr) << "a directory is not a part";
}

TEST_F(BomTest, ModelsRemoteCodeAndExecutablesByWhatTheyAre) {
  Json b = bom();
  const Json* base = component(b, ref("read", kBase));
  ASSERT_NE(base, nullptr);
  EXPECT_EQ((*base)["type"], "machine-learning-model");
  EXPECT_EQ(prop(*base, "role"), "model");
  EXPECT_EQ(prop(*base, "model_format"), "pickle");
  EXPECT_EQ(sha(*base), kShaBase);
  for (const char* use : {"read", "written"}) {
    const Json* code = component(b, ref(use, kRemote));
    ASSERT_NE(code, nullptr) << use;
    EXPECT_EQ(prop(*code, "role"), "remote-code") << use;
  }
  const Json* python = component(b, ref("exe", "/usr/bin/python3.11"));
  ASSERT_NE(python, nullptr) << text_;
  EXPECT_EQ((*python)["type"], "application");
  EXPECT_EQ(prop(*python, "role"), "executable");
  EXPECT_EQ(prop(*python, "pids"), "300");
  EXPECT_FALSE(prop(*python, "first_exec").empty());
  EXPECT_NE(component(b, ref("exe", "/usr/bin/torchrun")), nullptr);
}

TEST_F(BomTest, OutputsCarryTheirLastDigestAndOnlyTheUnjournaledOneIsHashedAtExport) {
  Json b = bom();
  const Json* ckpt = component(b, ref("written", kCkpt));
  ASSERT_NE(ckpt, nullptr);
  EXPECT_EQ((*ckpt)["type"], "machine-learning-model");
  EXPECT_EQ(prop(*ckpt, "role"), "output");
  EXPECT_EQ(prop(*ckpt, "model_format"), "weights-only");
  EXPECT_EQ(sha(*ckpt), kShaCkpt);
  const Json* log = component(b, ref("written", kLog));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(sha(*log), kShaNow);
  EXPECT_EQ(prop(*log, "sha256_source"), "export");
  const Json* gone = component(b, ref("written", kGone));
  ASSERT_NE(gone, nullptr);
  EXPECT_FALSE(gone->contains("hashes")) << "the journal says why it has no digest";
  EXPECT_EQ(prop(*gone, "sha256_missing"), "gone");
  // The log, and the remote code the job wrote (the daemon hashes outputs only).
  EXPECT_EQ(hashed_now_, (std::vector<std::string>{kLog, kRemote}));
}

TEST_F(BomTest, TheRunDependsOnWhatItUsedNotOnItsOutputs) {
  Json b = bom();
  ASSERT_EQ(b["dependencies"].size(), 1u);
  EXPECT_EQ(b["dependencies"][0]["ref"], "run");
  std::set<std::string> deps(b["dependencies"][0]["dependsOn"].begin(), b["dependencies"][0]["dependsOn"].end());
  EXPECT_TRUE(deps.count(ref("read", kShard)));
  EXPECT_TRUE(deps.count(ref("exe", "/usr/bin/torchrun")));
  EXPECT_FALSE(deps.count(ref("written", kCkpt)));
  std::set<std::string> refs;
  for (const auto& c : b["components"]) {
    EXPECT_TRUE(refs.insert(c["bom-ref"]).second) << "duplicate bom-ref " << c["bom-ref"];
  }
  for (const auto& d : deps) EXPECT_TRUE(refs.count(d)) << d;
}

TEST_F(BomTest, APathThatIsNotUtf8IsReplacedNotThrown) {
  open(std::string("/data/approved/bad-\xff.jsonl"), "read", "training", 20);
  Json b = bom();
  EXPECT_GE(b["components"].size(), 8u);
}

// The document the CLI writes validates against the shipped CycloneDX 1.6
// schema (python3-jsonschema, refs resolved locally).
TEST_F(BomTest, ValidatesAgainstTheCycloneDx16Schema) {
  bom();
  auto file = std::filesystem::temp_directory_path() / ("fts-bom-" + std::to_string(getpid()) + ".json");
  std::ofstream(file) << text_;
  std::string cmd = std::string("/usr/bin/python3 ") + FTS_SOURCE_DIR + "/tests/schema/cyclonedx/validate.py " +
                    file.string() + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = pclose(p);
  std::filesystem::remove(file);
  EXPECT_EQ(rc, 0) << out << "\n" << text_;
  // Control: the validator rejects a BOM that breaks the schema.
  Json bad = Json::parse(text_);
  bad["components"][0]["hashes"] = Json::array({{{"alg", "SHA-256"}, {"content", "not-hex"}}});
  std::ofstream(file) << bad.dump();
  p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  while (fread(buf, 1, sizeof buf, p)) {
  }
  EXPECT_NE(pclose(p), 0) << "a bad hash passed the schema";
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace fts::journal
