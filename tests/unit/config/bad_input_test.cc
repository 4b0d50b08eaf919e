// Bad input, one kind per test: each is reported as
// "file:line:column: field: what" at the scalar the user wrote (for a list,
// the element), and the loaded set leaves the bad policy out.
#include <gtest/gtest.h>

#include <filesystem>

#include "config/config.h"
#include "support/fixtures.h"

namespace fts::config {
namespace {

using fts::testing::TempDir;
using fts::testing::write_file;

std::string all(const std::vector<Diagnostic>& ds) {
  std::string s;
  for (const auto& d : ds) s += d.str() + "\n";
  return s;
}

class BadInput : public ::testing::Test {
 protected:
  // A config naming policies/ next to it; returns the policy file's path.
  std::string policy(const std::string& name, const std::string& body) {
    std::string f = dir_ / ("policies/" + name);
    write_file(f, body);
    return f;
  }
  std::string config(const std::string& body) {
    std::string f = dir_ / "ftsentinel.yaml";
    write_file(f, "policies_dir: policies\n" + body);
    std::filesystem::create_directories(dir_ / "policies");
    return f;
  }
  Loaded load_all(const std::string& extra_config = "") { return load(config(extra_config)); }
  // The one error of the load (fails the test when there are more or none).
  Diagnostic only_error(const Loaded& l) {
    EXPECT_EQ(l.errors.size(), 1u) << all(l.errors);
    return l.errors.empty() ? Diagnostic{} : l.errors[0];
  }
  TempDir dir_;
};

TEST_F(BadInput, SyntaxError) {
  std::string f = policy("p.yaml", "name: p\nmode: monitor\ndata:\n  training: [\"/data/**\"\n");
  Diagnostic d = only_error(load_all());
  EXPECT_EQ(d.file, f);
  EXPECT_EQ(d.line, 5);
  EXPECT_EQ(d.column, 1);
  EXPECT_NE(d.message.find("end of sequence"), std::string::npos) << d.str();
}

TEST_F(BadInput, UnknownKey) {
  std::string f = policy("p.yaml", "name: p\nmode: monitor\ndata:\n  training: [\"/data/**\"]\n  trainig: []\n");
  Diagnostic d = only_error(load_all());
  EXPECT_EQ(d.file, f);
  EXPECT_EQ(d.line, 5);
  EXPECT_EQ(d.column, 3);
  EXPECT_EQ(d.field, "data.trainig");
  EXPECT_NE(d.message.find("unknown key"), std::string::npos) << d.str();
}

TEST_F(BadInput, WrongType) {
  std::string f = policy("p.yaml", "name: p\nmode: monitor\ndata:\n  training: /data/approved/**\n");
  Diagnostic d = only_error(load_all());
  EXPECT_EQ(d.str(), f + ":4:13: data.training: expected a list, got '/data/approved/**'");
}

TEST_F(BadInput, WrongTypeInTheDaemonConfig) {
  Loaded l = load_all("sensor:\n  flow_report_seconds: -5\n");
  Diagnostic d = only_error(l);
  EXPECT_EQ(d.str(), dir_ / "ftsentinel.yaml" + ":3:24: sensor.flow_report_seconds: expected an integer >= 0, got '-5'");
}

TEST_F(BadInput, BadGlobAtTheListElement) {
  std::string f = policy("p.yaml",
                         "name: p\nmode: monitor\ndata:\n  training:\n    - /data/ok/**\n    - /data/[abc/**\n");
  Diagnostic d = only_error(load_all());
  EXPECT_EQ(d.file, f);
  EXPECT_EQ(d.line, 6);
  EXPECT_EQ(d.column, 7);
  EXPECT_EQ(d.field, "data.training[1]");
}

TEST_F(BadInput, BadCidr) {
  std::string f = policy("p.yaml", "name: p\nmode: monitor\nnetwork:\n  egress: [\"127.0.0.1/32\", \"10.0.0.0/40\"]\n");
  Diagnostic d = only_error(load_all());
  EXPECT_EQ(d.file, f);
  EXPECT_EQ(d.line, 4);
  EXPECT_EQ(d.column, 28);
  EXPECT_EQ(d.field, "network.egress[1]");
  EXPECT_NE(d.message.find("bad egress entry '10.0.0.0/40'"), std::string::npos) << d.str();
}

TEST_F(BadInput, BadPortRange) {
  std::string f = policy("p.yaml", "name: p\nmode: monitor\nnetwork:\n  egress:\n    - 10.0.0.0/8:29600-29500\n");
  Diagnostic d = only_error(load_all());
  EXPECT_EQ(d.file, f);
  EXPECT_EQ(d.line, 5);
  EXPECT_EQ(d.column, 7);
  EXPECT_NE(d.message.find("empty port range"), std::string::npos) << d.str();
}

TEST_F(BadInput, SizesInMiBTakeUnits) {
  Loaded l = load_all("sensor:\n  ringbuf_mb: 32MiB\noutputs:\n  - { type: file, path: e.jsonl, max_size_mb: 1GiB }\n");
  ASSERT_TRUE(l.ok()) << all(l.errors);
  EXPECT_EQ(l.daemon.sensor().ringbuf_mb(), 32u);
  EXPECT_EQ(l.daemon.outputs(0).max_size_mb(), 1024u);
  Diagnostic d = only_error(load_all("sensor:\n  ringbuf_mb: 1500KB\n"));
  EXPECT_EQ(d.str(), dir_ / "ftsentinel.yaml" +
                         ":3:15: sensor.ringbuf_mb: expected a size in whole MiB ('16', '16MiB', '1GiB'), got '1500KB'");
}

TEST_F(BadInput, BadSize) {
  std::string f = policy("p.yaml", "name: p\nmode: monitor\nnetwork:\n  max_bytes_per_destination: 64MiBs\n");
  Diagnostic d = only_error(load_all());
  EXPECT_EQ(d.file, f);
  EXPECT_EQ(d.line, 4);
  EXPECT_EQ(d.column, 30);
  EXPECT_EQ(d.field, "network.max_bytes_per_destination");
  EXPECT_NE(d.message.find("bad size '64MiBs'"), std::string::npos) << d.str();
}

TEST_F(BadInput, DuplicatePolicyNameAcrossTwoFiles) {
  std::string a = policy("10-a.yaml", "name: ft\nmode: monitor\n");
  std::string b = policy("20-b.yaml", "mode: enforce\nnetwork:\n  egress: [\"10.0.0.0/8\"]\nname: ft\n");
  Loaded l = load_all();
  Diagnostic d = only_error(l);
  EXPECT_EQ(d.str(), b + ":4:7: name: duplicate policy name 'ft' (also in " + a + ")");
}

TEST_F(BadInput, OutputsInsideTrainingNamesBothEntries) {
  std::string f = policy("p.yaml",
                         "name: p\nmode: monitor\ndata:\n  training:\n    - /data/approved/**\n"
                         "  outputs:\n    - /ckpt/**\n    - /data/approved/run-1/ckpt/**\n");
  Diagnostic d = only_error(load_all());
  EXPECT_EQ(d.file, f);
  EXPECT_EQ(d.line, 8);
  EXPECT_EQ(d.column, 7);
  EXPECT_EQ(d.field, "data.outputs[1]");
  EXPECT_EQ(d.message,
            "'/data/approved/run-1/ckpt/**' is inside data.training[0] '/data/approved/**' (line 5): the job would "
            "write into its own training data");
}

TEST_F(BadInput, OutputsEqualToSensitive) {
  std::string f = policy("p.yaml",
                         "name: p\nmode: monitor\ndata:\n  sensitive: [\"/root/.ssh/**\"]\n"
                         "  outputs: [\"/root/.ssh/**\"]\n");
  Diagnostic d = only_error(load_all());
  EXPECT_EQ(d.line, 5);
  EXPECT_EQ(d.column, 13);
  EXPECT_NE(d.message.find("where secrets are"), std::string::npos) << d.str();
}

TEST_F(BadInput, TrainingThatIsAlsoSensitiveIsFine) {
  policy("p.yaml",
         "name: p\nmode: monitor\ndata:\n  training: [\"/data/**\"]\n  sensitive: [\"/data/keys/**\"]\n"
         "  outputs: [\"/ckpt/**\"]\n");
  Loaded l = load_all();
  EXPECT_TRUE(l.ok()) << all(l.errors);
}

TEST_F(BadInput, ExecutablesAreAbsoluteGlobs) {
  std::string f = policy("p.yaml",
                         "name: p\nmode: monitor\njobs:\n  exec: [\"**/torchrun\", \"accelerate\"]\n"
                         "data:\n  writers: [\"dataset-sync\"]\nprocess:\n  deny_exec: [\"/usr/bin/curl\", \"wget\"]\n");
  Loaded l = load_all();
  ASSERT_EQ(l.errors.size(), 3u) << all(l.errors);
  EXPECT_EQ(l.errors[0].str(), f + ":4:25: jobs.exec[1]: an executable is matched by its absolute path: write "
                                   "'**/accelerate' or '/usr/bin/accelerate'");
  EXPECT_EQ(l.errors[1].field, "data.writers[0]");
  EXPECT_EQ(l.errors[1].line, 6);
  EXPECT_EQ(l.errors[1].column, 13);
  EXPECT_EQ(l.errors[2].field, "process.deny_exec[1]");
  EXPECT_EQ(l.errors[2].line, 8);
  EXPECT_EQ(l.errors[2].column, 32);
}

TEST_F(BadInput, AWriterEndsInItsFileName) {
  std::string f = policy("p.yaml", "name: p\nmode: monitor\ndata:\n  writers: [\"/opt/sync/bin/*\", \"**/dataset-sync\"]\n");
  Diagnostic d = only_error(load_all());
  EXPECT_EQ(d.field, "data.writers[0]");
  EXPECT_EQ(d.line, 4);
  EXPECT_NE(d.message.find("ends in its file name"), std::string::npos) << d.str();
}

TEST_F(BadInput, BadProcessGlob) {
  std::string f = policy("p.yaml", "name: p\nmode: monitor\nprocess:\n  deny_exec: [\"**/[cu\"]\n");
  Diagnostic d = only_error(load_all());
  EXPECT_EQ(d.field, "process.deny_exec[0]");
  EXPECT_EQ(d.line, 4);
  EXPECT_EQ(d.column, 15);
}

TEST_F(BadInput, RelativeManifest) {
  policy("p.yaml", "name: p\nmode: monitor\ndata:\n  manifest: SHA256SUMS\n");
  Diagnostic d = only_error(load_all());
  EXPECT_EQ(d.field, "data.manifest");
  EXPECT_EQ(d.line, 4);
  EXPECT_EQ(d.column, 13);
}

TEST_F(BadInput, PolicyNameWithSpaces) {
  policy("p.yaml", "mode: monitor\nname: my policy\n");
  Diagnostic d = only_error(load_all());
  EXPECT_EQ(d.field, "name");
  EXPECT_EQ(d.line, 2);
  EXPECT_EQ(d.column, 7);
}

TEST_F(BadInput, MetricsListenPort) {
  Loaded l = load_all("metrics:\n  listen: 127.0.0.1:99999\n");
  Diagnostic d = only_error(l);
  EXPECT_EQ(d.field, "metrics.listen");
  EXPECT_EQ(d.line, 3);
  EXPECT_EQ(d.column, 11);
  EXPECT_NE(d.message.find("'127.0.0.1:99999'"), std::string::npos) << d.str();
  EXPECT_TRUE(load_all("metrics:\n  listen: \"[::1]:0\"\n").ok());
  EXPECT_TRUE(load_all("metrics:\n  listen: \"off\"\n").ok());
  EXPECT_EQ(load_all("metrics:\n  listen: \"metrics.example:9477\"\n").errors.size(), 1u);  // binds an address
}

TEST_F(BadInput, SyslogAddressPortAndUrl) {
  Loaded l = load_all(
      "outputs:\n  - type: syslog\n    address: tcp://siem.example:65536\n"
      "  - type: http\n    url: \"https://:8088/services/collector\"\n");
  ASSERT_EQ(l.errors.size(), 2u) << all(l.errors);
  EXPECT_EQ(l.errors[0].field, "outputs[0].address");
  EXPECT_EQ(l.errors[0].line, 4);
  EXPECT_EQ(l.errors[0].column, 14);
  EXPECT_EQ(l.errors[1].field, "outputs[1].url");
  EXPECT_EQ(l.errors[1].line, 6);
}

TEST_F(BadInput, DeviceClasses) {
  Loaded l = load_all("devices:\n  classes:\n    - { class: gpu, proc_devices: [nvidia] }\n"
                      "    - { class: tpu, proc_devices: [accel] }\n    - { class: rdma }\n"
                      "    - { class: gpu, proc_devices: [drm], minor_min: 128, minor_max: 64 }\n");
  ASSERT_EQ(l.errors.size(), 3u) << all(l.errors);
  EXPECT_EQ(l.errors[0].field, "devices.classes[1]");
  EXPECT_NE(l.errors[0].message.find("gpu or rdma, got 'tpu'"), std::string::npos) << l.errors[0].str();
  EXPECT_EQ(l.errors[1].field, "devices.classes[2]");
  EXPECT_NE(l.errors[1].message.find("names no device"), std::string::npos) << l.errors[1].str();
  EXPECT_EQ(l.errors[2].field, "devices.classes[3]");
  Loaded ok = load_all("devices: { dev_dir: \"off\" }\n");
  ASSERT_TRUE(ok.ok()) << all(ok.errors);
  EXPECT_GE(ok.daemon.devices().classes_size(), 3) << "the defaults when none are named";
}

TEST_F(BadInput, RdmaIsAllowOrDenyAndAgentsArePaths) {
  policy("p.yaml", "name: p\nmode: monitor\nnetwork:\n  rdma: block\ndevices:\n  agents: [nvidia-smi]\n");
  Loaded l = load_all();
  ASSERT_EQ(l.errors.size(), 2u) << all(l.errors);
  EXPECT_EQ(l.errors[0].field, "network.rdma");
  EXPECT_EQ(l.errors[0].line, 4);
  EXPECT_NE(l.errors[0].message.find("allow or deny, got 'block'"), std::string::npos) << l.errors[0].str();
  EXPECT_EQ(l.errors[1].field, "devices.agents[0]");
}

TEST_F(BadInput, LogLevel) {
  Diagnostic d = only_error(load_all("log:\n  level: verbose\n"));
  EXPECT_EQ(d.field, "log.level");
  EXPECT_EQ(d.line, 3);
  EXPECT_EQ(d.column, 10);
}

TEST_F(BadInput, EmptyPolicyAndEnforceWithoutEgressWarn) {
  std::string e = policy("a.yaml", "name: empty\nmode: monitor\n");
  std::string f = policy("b.yaml", "name: strict\nmode: enforce\njobs:\n  exec: [\"**/torchrun\"]\n");
  Loaded l = load_all();
  ASSERT_TRUE(l.ok()) << all(l.errors);
  ASSERT_EQ(l.warnings.size(), 2u) << all(l.warnings);
  EXPECT_EQ(l.warnings[0].file, e);
  EXPECT_EQ(l.warnings[0].line, 1);
  EXPECT_NE(l.warnings[0].message.find("matches no jobs"), std::string::npos);
  EXPECT_EQ(l.warnings[1].str(),
            f + ":2:7: mode: enforce mode with no network.egress: every connection of its jobs is refused");
}

TEST(GlobWithin, LiteralDirectoryOfTheInnerPattern) {
  EXPECT_TRUE(glob_within("/data/approved/ckpt/**", "/data/**"));
  EXPECT_TRUE(glob_within("/data/**", "/data/**"));
  EXPECT_TRUE(glob_within("/data/approved/x.bin", "/data/approved/*.bin"));
  EXPECT_FALSE(glob_within("/ckpt/**", "/data/**"));
  EXPECT_FALSE(glob_within("/data-out/**", "/data/**"));
  EXPECT_FALSE(glob_within("**/ckpt/**", "/data/**"));  // cannot tell: not reported
}

}  // namespace
}  // namespace fts::config
