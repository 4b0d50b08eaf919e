// The daemon config and policies: defaults, path resolution, and every
// mistake reported at the exact file:line:column where the user made it.
#include "config/config.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "config/yaml_proto.h"
#include "support/fixtures.h"

namespace fts::config {
namespace {

using fts::testing::TempDir;
using policy::Policy;
using policy::PolicySet;
using fts::testing::write_file;

std::string all(const std::vector<Diagnostic>& ds) {
  std::string s;
  for (const auto& d : ds) s += d.str() + "\n";
  return s;
}

// Every diagnostic of `ds` whose str() contains `needle`.
std::vector<Diagnostic> with(const std::vector<Diagnostic>& ds, const std::string& needle) {
  std::vector<Diagnostic> out;
  for (const auto& d : ds)
    if (d.str().find(needle) != std::string::npos) out.push_back(d);
  return out;
}

const char* kGoodPolicy =
    "name: llm-finetune\n"
    "mode: monitor\n"
    "jobs:\n"
    "  exec: [\"**/torchrun\", \"**/accelerate\"]\n"
    "  cgroup: [\"/system.slice/finetune-*.scope\"]\n";

class ConfigTest : public ::testing::Test {
 protected:
  // A config dir with ftsentinel.yaml naming policies/ relatively.
  std::string write_config(const std::string& body) {
    std::string f = dir_ / "etc/ftsentinel.yaml";
    write_file(f, body);
    return f;
  }
  std::string policy(const std::string& name, const std::string& body) {
    std::string f = dir_ / ("etc/policies/" + name);
    write_file(f, body);
    return f;
  }
  TempDir dir_;
};

TEST_F(ConfigTest, GoodConfigGetsDefaultsAndRelativePaths) {
  std::string cfg = write_config("policies_dir: policies\nstate_dir: ../state\ncontrol:\n  socket: run/c.sock\n");
  policy("a.yaml", kGoodPolicy);
  Loaded l = load(cfg);
  ASSERT_TRUE(l.ok()) << all(l.errors);
  const auto& d = l.daemon;
  EXPECT_EQ(d.policies_dir(), dir_ / "etc/policies");
  EXPECT_EQ(d.state_dir(), dir_ / "state");
  EXPECT_EQ(d.control().socket(), dir_ / "etc/run/c.sock");
  EXPECT_EQ(d.control().group(), "ftsentinel");
  EXPECT_EQ(d.sensor().ringbuf_mb(), 16u);
  EXPECT_EQ(d.sensor().pin_dir(), "/sys/fs/bpf/ftsentinel");
  EXPECT_EQ(d.sensor().proc_root(), "/proc");
  ASSERT_EQ(d.outputs_size(), 1);
  EXPECT_EQ(d.outputs(0).type(), "stdout");
  EXPECT_EQ(d.outputs(0).format(), "json");
  EXPECT_EQ(d.outputs(0).events(), "all");
  EXPECT_EQ(d.log().level(), "info");
  EXPECT_EQ(l.config_file, cfg);

  ASSERT_NE(l.policies, nullptr);
  ASSERT_EQ(l.policies->all().size(), 1u);
  const Policy* p = l.policies->find("llm-finetune");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->index, 0u);
  EXPECT_EQ(p->file, dir_ / "etc/policies/a.yaml");
  EXPECT_EQ(p->spec.mode(), v1::monitor);
  ASSERT_EQ(p->spec.jobs().exec_size(), 2);
  EXPECT_EQ(p->spec.jobs().exec(0), "**/torchrun");
  EXPECT_EQ(p->spec.jobs().cgroup(0), "/system.slice/finetune-*.scope");
  EXPECT_EQ(l.policies->find("other"), nullptr);
  EXPECT_EQ(l.policies->at(0), p);
  EXPECT_EQ(l.policies->at(1), nullptr);
  EXPECT_TRUE(l.warnings.empty()) << all(l.warnings);
}

TEST_F(ConfigTest, EmptyConfigIsAllDefaults) {
  std::string cfg = write_config("");
  Loaded l = load(cfg);
  EXPECT_EQ(l.daemon.state_dir(), "/var/lib/ftsentinel");
  EXPECT_EQ(l.daemon.policies_dir(), "/etc/ftsentinel/policies.d");
  EXPECT_EQ(l.daemon.control().socket(), "/run/ftsentinel/control.sock");
}

TEST_F(ConfigTest, AbsolutePathsStayAndFileOutputIsUnderStateDir) {
  std::string cfg = write_config("policies_dir: " + (dir_ / "pol") + "\nstate_dir: /var/lib/x\n" +
                                 "outputs:\n  - { type: file, path: events.jsonl }\n"
                                 "  - { type: file, path: /log/abs.jsonl, events: alerts }\n");
  std::filesystem::create_directories(dir_ / "pol");
  Loaded l = load(cfg);
  ASSERT_TRUE(l.ok()) << all(l.errors);
  EXPECT_EQ(l.daemon.policies_dir(), dir_ / "pol");
  EXPECT_EQ(l.daemon.state_dir(), "/var/lib/x");
  EXPECT_EQ(l.daemon.outputs(0).path(), "/var/lib/x/events.jsonl");
  EXPECT_EQ(l.daemon.outputs(1).path(), "/log/abs.jsonl");
  EXPECT_EQ(l.daemon.outputs(1).events(), "alerts");
  EXPECT_EQ(l.daemon.outputs(1).format(), "json");
  EXPECT_TRUE(l.policies->all().empty());
}

TEST_F(ConfigTest, SyntaxErrorHasItsPosition) {
  std::string cfg = write_config("state_dir: /x\ncontrol:\n  socket: [a, b\n");
  Loaded l = load(cfg);
  ASSERT_EQ(l.errors.size(), 1u) << all(l.errors);
  const Diagnostic& d = l.errors[0];
  EXPECT_EQ(d.file, cfg);
  EXPECT_EQ(d.line, 4);  // the flow sequence is still open at the end of the file
  EXPECT_EQ(d.column, 1);
  EXPECT_NE(d.message.find("end of sequence flow"), std::string::npos) << d.str();
}

TEST_F(ConfigTest, SyntaxErrorOnABadIndent) {
  std::string cfg = write_config("state_dir: /x\ncontrol:\n  socket: /s\n group: g\n");
  Loaded l = load(cfg);
  ASSERT_EQ(l.errors.size(), 1u) << all(l.errors);
  EXPECT_EQ(l.errors[0].line, 4) << l.errors[0].str();
}

TEST_F(ConfigTest, UnknownKeyAtTheKey) {
  std::string cfg = write_config("state_dir: /x\nsensor:\n  ringbuf_mb: 16\n  ringbuf_size: 16\n");
  Loaded l = load(cfg);
  ASSERT_EQ(l.errors.size(), 1u) << all(l.errors);
  const Diagnostic& d = l.errors[0];
  EXPECT_EQ(d.line, 4);
  EXPECT_EQ(d.column, 3);
  EXPECT_EQ(d.field, "sensor.ringbuf_size");
  EXPECT_EQ(d.str(), cfg + ":4:3: sensor.ringbuf_size: unknown key (expected one of: ringbuf_mb, pin, pin_dir, "
                           "cgroup_root, proc_root, flow_report_seconds, tasks_max, flows_max)");
}

TEST_F(ConfigTest, SensorMapSizesHaveDefaultsAndBounds) {
  policy("a.yaml", kGoodPolicy);
  Loaded ok = load(write_config("state_dir: /x\npolicies_dir: policies\nsensor:\n  tasks_max: 256\n"));
  ASSERT_TRUE(ok.ok()) << all(ok.errors);
  EXPECT_EQ(ok.daemon.sensor().tasks_max(), 256u);
  EXPECT_EQ(ok.daemon.sensor().flows_max(), 65536u) << "the default";
  std::string cfg = write_config("state_dir: /x\nsensor:\n  tasks_max: 8\n  flows_max: 5000000\n");
  Loaded l = load(cfg);
  ASSERT_EQ(l.errors.size(), 2u) << all(l.errors);
  EXPECT_EQ(l.errors[0].str().substr(cfg.size()),
            ":3:14: sensor.tasks_max: between 16 and 4194304 (processes of jobs tracked at once)");
  EXPECT_EQ(l.errors[1].str().substr(cfg.size()),
            ":4:14: sensor.flows_max: between 16 and 4194304 (open job sockets counted at once)");
}

TEST_F(ConfigTest, UnknownTopLevelKeyAndAllMistakesAtOnce) {
  std::string cfg = write_config("statedir: /x\nsensor:\n  ringbuf_mb: abc\nlog: [debug]\n");
  Loaded l = load(cfg);
  ASSERT_EQ(l.errors.size(), 3u) << all(l.errors);
  EXPECT_EQ(l.errors[0].str().substr(cfg.size()), ":1:1: statedir: unknown key (expected one of: host, state_dir, "
                                                   "policies_dir, control, sensor, outputs, journal, metrics, log, detection, devices)");
  EXPECT_EQ(l.errors[1].str().substr(cfg.size()), ":3:15: sensor.ringbuf_mb: expected a size in whole MiB ('16', '16MiB', '1GiB'), got 'abc'");
  EXPECT_EQ(l.errors[2].str().substr(cfg.size()), ":4:6: log: expected a mapping, got a list");
}

TEST_F(ConfigTest, ListWhereAScalarBelongs) {
  std::string cfg = write_config("state_dir: [a, b]\n");
  Loaded l = load(cfg);
  ASSERT_EQ(l.errors.size(), 1u) << all(l.errors);
  EXPECT_EQ(l.errors[0].str(), cfg + ":1:12: state_dir: expected a single value, got a list");
}

TEST_F(ConfigTest, ScalarWhereAListBelongs) {
  std::string cfg = write_config("outputs: stdout\n");
  Loaded l = load(cfg);
  ASSERT_EQ(l.errors.size(), 1u) << all(l.errors);
  EXPECT_EQ(l.errors[0].str(), cfg + ":1:10: outputs: expected a list, got 'stdout'");
}

TEST_F(ConfigTest, NegativeAndOversizedIntegers) {
  std::string cfg = write_config("sensor:\n  ringbuf_mb: -1\njournal:\n  retention_days: 99999999999\n");
  Loaded l = load(cfg);
  ASSERT_EQ(l.errors.size(), 2u) << all(l.errors);
  EXPECT_EQ(l.errors[0].line, 2);
  EXPECT_EQ(l.errors[0].column, 15);
  EXPECT_EQ(l.errors[1].line, 4);
  EXPECT_EQ(l.errors[1].column, 19);
}

TEST_F(ConfigTest, BadBoolean) {
  std::string cfg = write_config("sensor:\n  pin: maybe\n");
  Loaded l = load(cfg);
  ASSERT_EQ(l.errors.size(), 1u) << all(l.errors);
  EXPECT_EQ(l.errors[0].str(), cfg + ":2:8: sensor.pin: expected true or false, got 'maybe'");
}

TEST_F(ConfigTest, SemanticErrorsPointAtTheValue) {
  std::string cfg = write_config(
      "sensor:\n  ringbuf_mb: 24\noutputs:\n  - type: stdout\n  - type: kafka\n  - type: file\n    format: xml\n");
  std::filesystem::create_directories(dir_ / "etc/policies");
  Loaded l = load(cfg);
  auto ring = with(l.errors, "power of two");
  ASSERT_EQ(ring.size(), 1u) << all(l.errors);
  EXPECT_EQ(ring[0].str(), cfg + ":2:15: sensor.ringbuf_mb: must be a power of two");
  auto type = with(l.errors, "unknown output type 'kafka'");
  ASSERT_EQ(type.size(), 1u) << all(l.errors);
  EXPECT_EQ(type[0].line, 5);
  EXPECT_EQ(type[0].column, 11);
  EXPECT_EQ(type[0].field, "outputs[1].type");
  auto path = with(l.errors, "needs a path");
  ASSERT_EQ(path.size(), 1u) << all(l.errors);
  EXPECT_EQ(path[0].line, 6);
  EXPECT_EQ(path[0].field, "outputs[2]");
  auto fmt = with(l.errors, "unknown format 'xml'");
  ASSERT_EQ(fmt.size(), 1u) << all(l.errors);
  EXPECT_EQ(fmt[0].line, 7);
  EXPECT_EQ(fmt[0].column, 13);
}

TEST_F(ConfigTest, UnreadableConfigFile) {
  Loaded l = load(dir_ / "missing.yaml");
  ASSERT_EQ(l.errors.size(), 1u);
  EXPECT_EQ(l.errors[0].message, "cannot read file");
  EXPECT_FALSE(l.ok());
}

// A fresh package install: no policies directory yet. The daemon starts with
// zero policies and says so (issue 11); it does not refuse to start.
TEST_F(ConfigTest, MissingPoliciesDirIsAWarningAndZeroPolicies) {
  std::string cfg = write_config("policies_dir: nowhere\n");
  Loaded l = load(cfg);
  ASSERT_TRUE(l.ok()) << all(l.errors);
  ASSERT_EQ(l.warnings.size(), 1u) << all(l.warnings);
  EXPECT_EQ(l.warnings[0].file, dir_ / "etc/nowhere");
  EXPECT_EQ(l.warnings[0].message, "policies directory does not exist: no policies loaded");
  EXPECT_TRUE(l.policies->all().empty());
}

TEST_F(ConfigTest, EmptyPoliciesDirIsAWarningAndZeroPolicies) {
  std::string cfg = write_config("policies_dir: policies\n");
  std::filesystem::create_directories(dir_ / "etc/policies");
  write_file(dir_ / "etc/policies/README", "not a policy\n");
  Loaded l = load(cfg);
  ASSERT_TRUE(l.ok()) << all(l.errors);
  ASSERT_EQ(l.warnings.size(), 1u) << all(l.warnings);
  EXPECT_NE(l.warnings[0].message.find("no policies (*.yaml)"), std::string::npos) << all(l.warnings);
  EXPECT_TRUE(l.policies->all().empty());
}

TEST_F(ConfigTest, PoliciesDirThatIsNotADirectoryIsAnError) {
  std::string cfg = write_config("policies_dir: afile\n");
  write_file(dir_ / "etc/afile", "x\n");
  Loaded l = load(cfg);
  ASSERT_EQ(l.errors.size(), 1u) << all(l.errors);
  EXPECT_EQ(l.errors[0].file, dir_ / "etc/afile");
  EXPECT_NE(l.errors[0].message.find("cannot read policies directory"), std::string::npos);
}

// --- policies ---

class PolicyTest : public ConfigTest {
 protected:
  std::shared_ptr<const PolicySet> load_dir() {
    errors_.clear();
    warnings_.clear();
    return load_policies(dir_ / "etc/policies", &errors_, &warnings_);
  }
  std::vector<Diagnostic> errors_, warnings_;
};

TEST_F(PolicyTest, SortedByFileNameAndIndexed) {
  policy("20-b.yaml", "name: b\nmode: enforce\n");
  policy("10-a.yml", "name: a\nmode: monitor\n");
  policy("README.md", "not a policy");
  auto set = load_dir();
  ASSERT_TRUE(errors_.empty()) << all(errors_);
  ASSERT_EQ(set->all().size(), 2u);
  EXPECT_EQ(set->all()[0].spec.name(), "a");
  EXPECT_EQ(set->all()[0].index, 0u);
  EXPECT_EQ(set->all()[1].spec.name(), "b");
  EXPECT_EQ(set->all()[1].index, 1u);
  EXPECT_EQ(set->find("b")->spec.mode(), v1::enforce);
}

TEST_F(PolicyTest, BadModeIsAnErrorAtTheValue) {
  std::string f = policy("p.yaml", "name: p\nmode: observe\n");
  auto set = load_dir();
  ASSERT_EQ(errors_.size(), 1u) << all(errors_);
  EXPECT_EQ(errors_[0].str(), f + ":2:7: mode: expected one of monitor, enforce, got 'observe'");
  EXPECT_TRUE(set->all().empty()) << "a policy with errors is not loaded";
}

TEST_F(PolicyTest, TheUnspecifiedEnumNameIsNotAMode) {
  std::string f = policy("p.yaml", "name: p\nmode: MODE_UNSPECIFIED\n");
  load_dir();
  ASSERT_EQ(errors_.size(), 1u) << all(errors_);
  EXPECT_EQ(errors_[0].line, 2);
  EXPECT_EQ(errors_[0].column, 7);
}

TEST_F(PolicyTest, MissingModeIsAnError) {
  std::string f = policy("p.yaml", "name: p\njobs:\n  exec: [\"**/x\"]\n");
  load_dir();
  ASSERT_EQ(errors_.size(), 1u) << all(errors_);
  EXPECT_EQ(errors_[0].field, "mode");
  EXPECT_NE(errors_[0].message.find("needs a mode"), std::string::npos);
}

TEST_F(PolicyTest, BadGlobAtItsListItem) {
  std::string f = policy("p.yaml",
                         "name: p\n"
                         "mode: monitor\n"
                         "jobs:\n"
                         "  exec:\n"
                         "    - \"**/torchrun\"\n"
                         "    - \"/opt/[abc/torchrun\"\n"
                         "  cgroup: [\"/ok-*.scope\", \"/x/***/y\", \"relative-*\"]\n");
  load_dir();
  ASSERT_EQ(errors_.size(), 3u) << all(errors_);
  EXPECT_EQ(errors_[0].str(), f + ":6:7: jobs.exec[1]: unclosed '[' in glob");
  EXPECT_EQ(errors_[1].str(), f + ":7:27: jobs.cgroup[1]: '***' is not a glob");
  EXPECT_EQ(errors_[2].line, 7);
  EXPECT_EQ(errors_[2].column, 39);
  EXPECT_EQ(errors_[2].field, "jobs.cgroup[2]");
  EXPECT_NE(errors_[2].message.find("absolute cgroup v2 path"), std::string::npos);
}

TEST_F(PolicyTest, EmptyGlobIsAnError) {
  std::string f = policy("p.yaml", "name: p\nmode: monitor\njobs:\n  exec: [\"\"]\n");
  load_dir();
  ASSERT_EQ(errors_.size(), 1u) << all(errors_);
  EXPECT_EQ(errors_[0].str(), f + ":4:10: jobs.exec[0]: empty glob");
}

TEST_F(PolicyTest, BadAllowPreloadGlobIsAnError) {
  std::string f = policy("p.yaml", "name: p\nmode: monitor\nprocess:\n  allow_preload: [\"/usr/lib/**/libtcmalloc*.so*\", \"/x/[a\"]\n");
  load_dir();
  ASSERT_EQ(errors_.size(), 1u) << all(errors_);
  EXPECT_EQ(errors_[0].str(), f + ":4:51: process.allow_preload[1]: unclosed '[' in glob");
}

TEST_F(PolicyTest, MalformedRemoteCodeHashIsAnError) {
  std::string good(64, 'a');
  std::string f = policy("p.yaml", "name: p\nmode: monitor\nprocess:\n  allow_remote_code: [\"" + good +
                                       "\", \"abc123\"]\n  remote_code: [\"/opt/hf/**\"]\n");
  load_dir();
  ASSERT_EQ(errors_.size(), 1u) << all(errors_);
  EXPECT_EQ(errors_[0].str(), f + ":4:" + std::to_string(25 + 64 + 2) +
                                  ": process.allow_remote_code[1]: a SHA-256 is 64 hexadecimal digits, as sha256sum "
                                  "prints it");
}

TEST_F(PolicyTest, DuplicateNameIsAnErrorInTheSecondFile) {
  policy("a.yaml", "name: same\nmode: monitor\n");
  std::string b = policy("b.yaml", "# another team's copy\nname: same\nmode: enforce\n");
  auto set = load_dir();
  ASSERT_EQ(errors_.size(), 1u) << all(errors_);
  EXPECT_EQ(errors_[0].str(), b + ":2:7: name: duplicate policy name 'same' (also in " + dir_ / "etc/policies/a.yaml" + ")");
  ASSERT_EQ(set->all().size(), 1u);
  EXPECT_EQ(set->find("same")->spec.mode(), v1::monitor);  // the first one stays
}

TEST_F(PolicyTest, MissingNameIsAnError) {
  std::string f = policy("p.yaml", "mode: monitor\njobs:\n  exec: [\"**/torchrun\"]\n");
  auto set = load_dir();
  ASSERT_EQ(errors_.size(), 1u) << all(errors_);
  EXPECT_EQ(errors_[0].str(), f + ":1:1: name: a policy needs a name");
}

TEST_F(PolicyTest, EmptyPolicyFileNeedsNameAndMode) {
  policy("p.yaml", "");
  load_dir();
  EXPECT_EQ(with(errors_, "needs a name").size(), 1u) << all(errors_);
  EXPECT_EQ(with(errors_, "needs a mode").size(), 1u) << all(errors_);
}

TEST_F(PolicyTest, UnknownKeyInPolicy) {
  std::string f = policy("p.yaml", "name: p\nmode: monitor\nnetwork:\n  egres: [\"10.0.0.0/8\"]\n");
  auto set = load_dir();
  ASSERT_EQ(errors_.size(), 1u) << all(errors_);
  EXPECT_EQ(errors_[0].line, 4);
  EXPECT_EQ(errors_[0].column, 3);
  EXPECT_EQ(errors_[0].field, "network.egres");
  EXPECT_TRUE(set->all().empty());
}

TEST_F(PolicyTest, SyntaxErrorInOnePolicyDoesNotHideTheOthers) {
  std::string bad = policy("a.yaml", "name: a\nmode: monitor\njobs: {exec: [\"x\"\n");
  policy("b.yaml", "name: b\nmode: monitor\n");
  auto set = load_dir();
  ASSERT_EQ(errors_.size(), 1u) << all(errors_);
  EXPECT_EQ(errors_[0].file, bad);
  EXPECT_GT(errors_[0].line, 0);
  ASSERT_EQ(set->all().size(), 1u);
  EXPECT_EQ(set->all()[0].spec.name(), "b");
  EXPECT_EQ(set->all()[0].index, 0u);  // indexes are dense over what loaded
}

TEST_F(PolicyTest, EveryEnforcedSectionLoadsWithoutWarnings) {
  std::string f = policy("p.yaml",
                         "name: p\nmode: monitor\n"
                         "data:\n  training: [\"/data/approved/**\"]\n  manifest: /data/approved/SHA256SUMS\n"
                         "network:\n  egress: [\"10.0.0.0/8:29500-29600\"]\n  max_bytes_per_destination: 64MiB\n"
                         "process:\n  deny_exec: [\"**/curl\"]\n");
  auto set = load_dir();
  ASSERT_TRUE(errors_.empty()) << all(errors_);
  // data, network and process are all enforced (process by transfer-tool-exec);
  // the one warning is the manifest that does not exist on this machine.
  ASSERT_EQ(warnings_.size(), 1u) << all(warnings_);
  EXPECT_EQ(warnings_[0].field, "data.manifest");
  EXPECT_EQ(warnings_[0].line, 5);
  EXPECT_EQ(warnings_[0].column, 13);
  ASSERT_EQ(set->all().size(), 1u);
  EXPECT_EQ(set->all()[0].spec.data().training(0), "/data/approved/**");
  EXPECT_EQ(set->all()[0].spec.network().max_bytes_per_destination(), "64MiB");
}

TEST_F(PolicyTest, BadEgressEntriesAreErrorsAtTheirEntry) {
  std::string f = policy("p.yaml",
                         "name: p\nmode: enforce\nnetwork:\n  egress:\n    - 10.0.0.0/8:29500-29600\n"
                         "    - 10.0.0.0/33\n    - \"[::1]/128:0\"\n    - 127.0.0.1:9-3\n    - hub.internal:443\n"
                         "  max_bytes_per_destination: 64 parsecs\n");
  auto set = load_dir();
  ASSERT_EQ(errors_.size(), 4u) << all(errors_);
  EXPECT_EQ(errors_[0].file, f);
  EXPECT_EQ(errors_[0].line, 6);
  EXPECT_EQ(errors_[0].column, 7);
  EXPECT_EQ(errors_[0].field, "network.egress[1]");
  EXPECT_NE(errors_[0].message.find("prefix length 33 is over 32"), std::string::npos) << errors_[0].message;
  EXPECT_EQ(errors_[1].line, 7);
  EXPECT_NE(errors_[1].message.find("bad port '0'"), std::string::npos) << errors_[1].message;
  EXPECT_EQ(errors_[2].line, 8);
  EXPECT_NE(errors_[2].message.find("empty port range"), std::string::npos) << errors_[2].message;
  EXPECT_EQ(errors_[3].field, "network.max_bytes_per_destination");
  EXPECT_EQ(errors_[3].line, 10);
}

TEST_F(PolicyTest, ResolversAreAddressesWithOnePortAndErrorsAtTheirEntry) {
  std::string f = policy("p.yaml",
                         "name: p\nmode: enforce\nnetwork:\n  egress: [\"hub.internal:443\"]\n  resolvers:\n"
                         "    - 10.0.0.2\n    - \"[fd00::53]:5353\"\n    - dns.internal\n    - 10.0.0.0/8\n"
                         "    - 10.0.0.2:53-54\n    - 10.0.0.2:0\n");
  auto set = load_dir();
  ASSERT_EQ(errors_.size(), 4u) << all(errors_);
  EXPECT_EQ(errors_[0].file, f);
  EXPECT_EQ(errors_[0].line, 8);
  EXPECT_EQ(errors_[0].column, 7);
  EXPECT_EQ(errors_[0].field, "network.resolvers[2]");
  EXPECT_NE(errors_[0].message.find("an address, not a name"), std::string::npos) << errors_[0].message;
  EXPECT_EQ(errors_[1].line, 9);
  EXPECT_NE(errors_[1].message.find("one address, not a network"), std::string::npos) << errors_[1].message;
  EXPECT_EQ(errors_[2].line, 10);
  EXPECT_NE(errors_[2].message.find("one port"), std::string::npos) << errors_[2].message;
  EXPECT_EQ(errors_[3].field, "network.resolvers[5]");
  EXPECT_EQ(errors_[3].line, 11);
}

// --- the building blocks ---

TEST(Diagnostic, Format) {
  EXPECT_EQ((Diagnostic{"/etc/p.yaml", 3, 7, "jobs.exec[0]", "empty glob"}.str()),
            "/etc/p.yaml:3:7: jobs.exec[0]: empty glob");
  EXPECT_EQ((Diagnostic{"/etc/p.yaml", 1, 1, "", "cannot read file"}.str()), "/etc/p.yaml:1:1: cannot read file");
}

TEST(DiagAt, FallsBackToTheDeepestNodeFound) {
  YAML::Node root = YAML::Load("a:\n  b:\n    - x\n    - y\n");
  EXPECT_EQ(diag_at(root, "f", "a.b[1]", "m").line, 4);
  EXPECT_EQ(diag_at(root, "f", "a.b[1]", "m").column, 7);
  EXPECT_EQ(diag_at(root, "f", "a.b[9]", "m").line, 3);  // index out of range: the list
  EXPECT_EQ(diag_at(root, "f", "a.zz", "m").line, 2);    // missing key: its map
  Diagnostic d = diag_at(root, "f", "nope", "m");
  EXPECT_EQ(d.line, 1);
  EXPECT_EQ(d.column, 1);
  EXPECT_EQ(d.field, "nope");
  EXPECT_EQ(root["a"]["b"].size(), 2u) << "diag_at must not change the document";
}

TEST(YamlToProto, MapsNestedMessagesAndLists) {
  v1::Policy p;
  std::vector<Diagnostic> ds;
  yaml_to_proto(YAML::Load("name: x\nmode: enforce\nprocess:\n  deny_exec: [\"**/curl\", \"**/nc\"]\n"), &p, "mem", &ds);
  ASSERT_TRUE(ds.empty()) << all(ds);
  EXPECT_EQ(p.name(), "x");
  EXPECT_EQ(p.mode(), v1::enforce);
  ASSERT_EQ(p.process().deny_exec_size(), 2);
  EXPECT_EQ(p.process().deny_exec(1), "**/nc");
}

}  // namespace
}  // namespace fts::config
