// Policy path globs: what a policy author writes must match what they mean.
#include "common/glob.h"

#include <fnmatch.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fts {
namespace {

TEST(Glob, DoubleStarLauncherMatchesAnyDirectory) {
  EXPECT_TRUE(glob_match("**/torchrun", "/usr/bin/torchrun"));
  EXPECT_TRUE(glob_match("**/torchrun", "/opt/conda/envs/x/bin/torchrun"));
  EXPECT_TRUE(glob_match("**/torchrun", "/torchrun"));
  EXPECT_TRUE(glob_match("**/torchrun", "torchrun"));  // "**/" also matches zero directories
  EXPECT_FALSE(glob_match("**/torchrun", "/usr/bin/torchrun2"));
  EXPECT_FALSE(glob_match("**/torchrun", "/usr/bin/mytorchrun"));
  EXPECT_FALSE(glob_match("**/torchrun", "/usr/bin/torchrun/x"));
}

TEST(Glob, SensitiveHomeTree) {
  const char* g = "/home/*/.aws/**";
  EXPECT_TRUE(glob_match(g, "/home/alice/.aws/credentials"));
  EXPECT_TRUE(glob_match(g, "/home/bob/.aws/sso/cache/token.json"));
  EXPECT_FALSE(glob_match(g, "/home/alice/work/.aws/credentials"));  // '*' is one component
  EXPECT_FALSE(glob_match(g, "/home/.aws/credentials"));
  EXPECT_FALSE(glob_match(g, "/root/.aws/credentials"));
  EXPECT_FALSE(glob_match(g, "/home/alice/.awsx/credentials"));
}

TEST(Glob, DoubleStarInTheMiddle) {
  EXPECT_TRUE(glob_match("/data/**/*.parquet", "/data/a.parquet"));
  EXPECT_TRUE(glob_match("/data/**/*.parquet", "/data/x/y/a.parquet"));
  EXPECT_FALSE(glob_match("/data/**/*.parquet", "/data/x/y/a.csv"));
  EXPECT_FALSE(glob_match("/data/**/*.parquet", "/other/a.parquet"));
  EXPECT_TRUE(glob_match("/ckpt/**", "/ckpt/run1/step100/model.safetensors"));
  EXPECT_TRUE(glob_match("**", "/anything/at/all"));
}

TEST(Glob, StarStopsAtSlash) {
  EXPECT_TRUE(glob_match("/data/*", "/data/file"));
  EXPECT_TRUE(glob_match("/data/*", "/data/"));
  EXPECT_FALSE(glob_match("/data/*", "/data/a/file"));
  EXPECT_TRUE(glob_match("/system.slice/finetune-*.scope", "/system.slice/finetune-42.scope"));
  EXPECT_FALSE(glob_match("/system.slice/finetune-*.scope", "/system.slice/finetune-4/2.scope"));
  EXPECT_TRUE(glob_match("/a/*b", "/a/b"));  // '*' may match nothing
}

TEST(Glob, QuestionMarkIsOneCharNotSlash) {
  EXPECT_TRUE(glob_match("/tmp/a?c", "/tmp/abc"));
  EXPECT_FALSE(glob_match("/tmp/a?c", "/tmp/a/c"));
  EXPECT_FALSE(glob_match("/tmp/a?c", "/tmp/ac"));
  EXPECT_FALSE(glob_match("/tmp/a?c", "/tmp/abbc"));
}

TEST(Glob, Classes) {
  EXPECT_TRUE(glob_match("/x/[a-c].txt", "/x/a.txt"));
  EXPECT_TRUE(glob_match("/x/[a-c].txt", "/x/c.txt"));
  EXPECT_FALSE(glob_match("/x/[a-c].txt", "/x/d.txt"));
  EXPECT_TRUE(glob_match("/x/[abz]", "/x/z"));
  EXPECT_FALSE(glob_match("/x/[abz]", "/x/y"));
  EXPECT_TRUE(glob_match("/x/[!x]", "/x/y"));
  EXPECT_FALSE(glob_match("/x/[!x]", "/x/x"));
  EXPECT_FALSE(glob_match("/x/[!x]", "/x//"));  // a class never matches '/'
  EXPECT_TRUE(glob_match("/x/[^0-9]", "/x/k"));
  EXPECT_FALSE(glob_match("/x/[^0-9]", "/x/5"));
  EXPECT_TRUE(glob_match("/x/[]]", "/x/]"));   // ']' first is literal
  EXPECT_TRUE(glob_match("/x/[a-]", "/x/-"));  // '-' last is literal
  EXPECT_FALSE(glob_match("/x/[abc", "/x/a"));  // unclosed never matches
}

TEST(Glob, LiteralsAndEmpty) {
  EXPECT_TRUE(glob_match("/usr/bin/python3", "/usr/bin/python3"));
  EXPECT_FALSE(glob_match("/usr/bin/python3", "/usr/bin/python"));
  EXPECT_FALSE(glob_match("/usr/bin/python", "/usr/bin/python3"));
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("", "/a"));
}

// Found by tests/fuzz/glob: the backtracking matcher took exponential time on
// stars between repeated characters (this one never finished); the matcher
// now walks the path once.
TEST(Glob, StarsOverALongRunAreLinear) {
  const std::string dashes(4096, '-');
  EXPECT_FALSE(glob_match("/scratch/*-*-*-*/**", "/scratch/" + dashes));
  EXPECT_TRUE(glob_match("/scratch/*-*-*-*/**", "/scratch/" + dashes + "/ckpt"));
  EXPECT_FALSE(glob_match("**/*a*a*a*a*a*b", "/" + std::string(4096, 'a')));
}

// Found by tests/fuzz/glob against fnmatch(3): class ranges compared signed
// chars, so no byte >= 0x80 was ever inside "[a-\xff]".
TEST(Glob, ClassRangesCompareBytesUnsigned) {
  EXPECT_TRUE(glob_match("/x/[a-\xff]", "/x/\x80"));
  EXPECT_TRUE(glob_match("/x/[\x80-\xff]", "/x/\xe9"));
  EXPECT_FALSE(glob_match("/x/[\x80-\xff]", "/x/e"));
}

// "**/" matches zero directories only where it starts: "**/" is "" or ends in '/'.
TEST(Glob, DoubleStarSlashSkipsOnlyAtItsStart) {
  EXPECT_TRUE(glob_match("**/", ""));
  EXPECT_TRUE(glob_match("**/", "a/b/"));
  EXPECT_FALSE(glob_match("**/", "abc"));
  EXPECT_FALSE(glob_match("/a/**/", "/a/b"));
}

// A pattern's literal head is compared as bytes before the matcher runs (the
// classify stage's fast exit): where the head ends, runs out or is the whole
// pattern, the answer is fnmatch(3)'s (FNM_PATHNAME: '*', '?' and classes
// stop at '/'; no "**" here, which fnmatch does not have).
TEST(Glob, LiteralHeadAgreesWithFnmatch) {
  const std::vector<std::string> heads = {"", "/", "/u", "/usr", "/usr/", "/usr/lib/", "/usr/lib"};
  const std::vector<std::string> tails = {"", "*", "?", "[a-l]*", "*/x", "lib", "/*", "[!/]b", "x["};
  const std::vector<std::string> paths = {"", "/", "/u", "/usr", "/usr/", "/usr/lib", "/usr/lib/", "/usr/lib/x",
                                          "/usr/libx", "/usr/bin", "/uss", "/usr/lib/b/x", "usr", "/usr/lib/ab"};
  int cases = 0;
  for (const auto& h : heads)
    for (const auto& t : tails) {
      std::string g = h + t;
      if (g.empty()) continue;
      for (const auto& p : paths) {
        bool want = fnmatch(g.c_str(), p.c_str(), FNM_PATHNAME | FNM_NOESCAPE) == 0;
        EXPECT_EQ(glob_match(g, p), want) << "glob " << g << " path " << p;
        ++cases;
      }
    }
  EXPECT_GT(cases, 800);
}

TEST(GlobCheck, Errors) {
  EXPECT_EQ(glob_check(""), "empty glob");
  EXPECT_EQ(glob_check("/data/[abc"), "unclosed '[' in glob");
  EXPECT_EQ(glob_check("/data/[!"), "unclosed '[' in glob");
  EXPECT_EQ(glob_check("/data/***/x"), "'***' is not a glob");
}

TEST(GlobCheck, GoodGlobsPass) {
  for (const char* g : {"**/torchrun", "/home/*/.aws/**", "/x/[a-c]", "/x/[!x]", "/x/[]]", "a?b", "/data/**"})
    EXPECT_EQ(glob_check(g), "") << g;
}

TEST(GlobLiteralBasename, Cases) {
  EXPECT_EQ(glob_literal_basename("**/torchrun"), "torchrun");
  EXPECT_EQ(glob_literal_basename("/opt/x/torchrun"), "torchrun");
  EXPECT_EQ(glob_literal_basename("deepspeed"), "deepspeed");
  EXPECT_EQ(glob_literal_basename("/usr/bin/python*"), "");
  EXPECT_EQ(glob_literal_basename("**/python?"), "");
  EXPECT_EQ(glob_literal_basename("**/[ab]run"), "");
  EXPECT_EQ(glob_literal_basename("/opt/"), "");
  EXPECT_EQ(glob_literal_basename("/opt/*/bin/accelerate"), "accelerate");
}

}  // namespace
}  // namespace fts
