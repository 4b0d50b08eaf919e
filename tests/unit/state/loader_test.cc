// Programs run through the dynamic loader: what runs and what is injected,
// read from argv as glibc's rtld reads it.
#include <gtest/gtest.h>

#include "state/loader.h"
#include "support/fixtures.h"

namespace fts::state {
namespace {

using fts::testing::exec_of;
using fts::testing::task;

constexpr const char* kLdSo = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";

decode::Exec loader_exec(std::vector<std::string> args, const std::string& exe = kLdSo) {
  decode::Exec e = exec_of(task(10, 5'000), task(1, 0), exe, std::move(args), 7);
  e.cwd = "/home/u/work";
  return e;
}

TEST(Loader, KnowsTheLoaderByItsNameOnly) {
  EXPECT_TRUE(is_dynamic_loader(kLdSo));
  EXPECT_TRUE(is_dynamic_loader("/lib64/ld-linux-x86-64.so.2"));
  EXPECT_TRUE(is_dynamic_loader("/usr/lib/ld-linux-aarch64.so.1"));
  EXPECT_TRUE(is_dynamic_loader("/usr/bin/ld.so"));
  EXPECT_FALSE(is_dynamic_loader("/usr/bin/ld")) << "the static linker runs nothing";
  EXPECT_FALSE(is_dynamic_loader("/usr/bin/curl"));
  EXPECT_FALSE(is_dynamic_loader("/opt/ld-linux-x86-64.so.2/bin/python3")) << "a directory of that name";
}

TEST(Loader, ProgramAfterTheOptionsWithEveryPreloadAndAudit) {
  auto r = loader_run(loader_exec({"ld.so", "--library-path", "/x", "--preload", "/tmp/a.so:/tmp/b.so", "--audit",
                                   "/tmp/au.so", "--preload", "/tmp/c.so", "/usr/bin/curl", "--preload", "not-an-option"}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->program, "/usr/bin/curl");
  EXPECT_EQ(r->preload, (std::vector<std::string>{"/tmp/a.so:/tmp/b.so", "/tmp/c.so"}));
  EXPECT_EQ(r->audit, (std::vector<std::string>{"/tmp/au.so"})) << "the program's own argv is not the loader's";
}

TEST(Loader, RelativeProgramIsResolvedAgainstTheCwdAndFlagsTakeNoValue) {
  auto r = loader_run(loader_exec({"ld.so", "--inhibit-cache", "--argv0", "python", "./bin/../tool", "x"}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->program, "/home/u/work/tool");
  EXPECT_TRUE(r->preload.empty());
  auto dashdash = loader_run(loader_exec({"ld.so", "--", "/usr/bin/wget"}));
  ASSERT_TRUE(dashdash);
  EXPECT_EQ(dashdash->program, "/usr/bin/wget");
  auto bare = loader_run(loader_exec({"ld.so", "curl"}));
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->program, "curl") << "rtld searches the library path for a bare name, not the cwd";
}

TEST(Loader, NoProgramOrNotTheLoader) {
  auto list = loader_run(loader_exec({"ld.so", "--list"}));
  ASSERT_TRUE(list);
  EXPECT_EQ(list->program, "");
  auto dangling = loader_run(loader_exec({"ld.so", "--preload"}));
  ASSERT_TRUE(dangling) << "an option missing its value is not the program";
  EXPECT_EQ(dangling->program, "");
  EXPECT_FALSE(loader_run(loader_exec({"curl", "--preload", "x", "/usr/bin/wget"}, "/usr/bin/curl")));
}

}  // namespace
}  // namespace fts::state
