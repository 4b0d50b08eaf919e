// The real `ftsentineld --check`: the shipped agent-config/ passes, and a
// copy with one mistake fails with its file:line:column.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/fixtures.h"

namespace fts {
namespace {

namespace fs = std::filesystem;

struct CheckRun {
  int status = -1;
  std::string output;  // stdout and stderr
};

CheckRun check(const std::string& config, bool check_only = true) {
  std::string cmd = std::string(FTS_DAEMON_BIN) + " --config '" + config + "'" + (check_only ? " --check" : "") + " 2>&1";
  CheckRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(CheckBinary, ShippedAgentConfigPasses) {
  CheckRun r = check(std::string(FTS_SOURCE_DIR) + "/agent-config/ftsentinel.yaml");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("ok (4 policies)"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("warning"), std::string::npos) << "the examples check clean:\n" << r.output;
}

class CheckBinaryCopy : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy(std::string(FTS_SOURCE_DIR) + "/agent-config", dir_.path() + "/etc", fs::copy_options::recursive);
  }
  // Replaces the first `from` in the copied file `rel` by `to`.
  void edit(const std::string& rel, const std::string& from, const std::string& to) {
    std::string path = dir_ / ("etc/" + rel);
    std::string text = read(path);
    auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from << " not in " << rel;
    text.replace(at, from.size(), to);
    fts::testing::write_file(path, text);
  }
  // 1-based line and column where `needle` starts in the copied file `rel`.
  std::string position(const std::string& rel, const std::string& needle) {
    std::string text = read(dir_ / ("etc/" + rel));
    auto at = text.find(needle);
    if (at == std::string::npos) return "?";
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
    auto bol = text.rfind('\n', at);
    size_t col = at - (bol == std::string::npos ? 0 : bol + 1) + 1;
    return std::to_string(line) + ":" + std::to_string(col);
  }
  std::string config() { return dir_ / "etc/ftsentinel.yaml"; }
  fts::testing::TempDir dir_;
};

TEST_F(CheckBinaryCopy, BadCidrFailsWithItsPosition) {
  edit("policies/slurm-job.yaml", "\"10.0.0.0/8\"", "\"10.0.0.0/80\"");
  CheckRun r = check(config());
  EXPECT_EQ(r.status, 1) << r.output;
  std::string want = dir_ / "etc/policies/slurm-job.yaml" + ":" + position("policies/slurm-job.yaml", "\"10.0.0.0/80\"") +
                     ": network.egress[0]: bad egress entry '10.0.0.0/80'";
  EXPECT_NE(r.output.find(want), std::string::npos) << "want " << want << "\ngot:\n" << r.output;
  EXPECT_NE(r.output.find("1 error(s) in the configuration"), std::string::npos) << r.output;
}

TEST_F(CheckBinaryCopy, UnknownKeyInTheDaemonConfig) {
  edit("ftsentinel.yaml", "  flow_report_seconds: 60", "  flow_report_secs: 60");
  CheckRun r = check(config());
  EXPECT_EQ(r.status, 1) << r.output;
  std::string want = config() + ":" + position("ftsentinel.yaml", "flow_report_secs") +
                     ": sensor.flow_report_secs: unknown key";
  EXPECT_NE(r.output.find(want), std::string::npos) << "want " << want << "\ngot:\n" << r.output;
}

TEST_F(CheckBinaryCopy, StartUpRefusesTheSameWayBeforeLoadingAnything) {
  edit("policies/enforced-finetune.yaml", "mode: enforce", "mode: enforcing");
  CheckRun r = check(config(), /*check_only=*/false);
  EXPECT_EQ(r.status, 1) << r.output;
  std::string want = dir_ / "etc/policies/enforced-finetune.yaml" + ":" +
                     position("policies/enforced-finetune.yaml", "enforcing") +
                     ": mode: expected one of monitor, enforce, got 'enforcing'";
  EXPECT_NE(r.output.find(want), std::string::npos) << "want " << want << "\ngot:\n" << r.output;
}

TEST_F(CheckBinaryCopy, SyntaxErrorFails) {
  edit("policies/llm-finetune.yaml", "  outputs: [\"/ckpt/**\"]", "  outputs: [\"/ckpt/**\"\n");
  CheckRun r = check(config());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(dir_ / "etc/policies/llm-finetune.yaml:"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace fts
