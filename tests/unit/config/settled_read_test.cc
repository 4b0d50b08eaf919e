// Policy and config files are read once they are still: a file rewritten in
// place is half written on disk for a moment, and a reload must not run that.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "config/yaml_proto.h"
#include "support/fixtures.h"

namespace fts::config {
namespace {

TEST(SettledRead, ReturnsTheTextAndItsSha256) {
  fts::testing::TempDir d;
  fts::testing::write_file(d / "p.yaml", "name: a\n");
  std::vector<Diagnostic> diags;
  std::string sha;
  auto text = read_settled(d / "p.yaml", &diags, &sha);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, "name: a\n");
  EXPECT_EQ(sha, "1e7e5f3c45fc71cc0d92ffd6a4136ce35256118f2cb9a940b09a9e336022a571");  // sha256sum of it
  EXPECT_TRUE(diags.empty());
}

TEST(SettledRead, WaitsForAnEditThatPausesMidFile) {
  fts::testing::TempDir d;
  std::string path = d / "p.yaml";
  std::ofstream f(path);
  f << "name: a\n" << std::flush;  // half of it, on disk
  std::thread finish([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    f << "mode: enforce\n" << std::flush;
  });
  std::vector<Diagnostic> diags;
  auto text = read_settled(path, &diags);
  finish.join();
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, "name: a\nmode: enforce\n") << "the whole edit, not its first half";
}

TEST(SettledRead, AFileThatKeepsChangingIsReportedNotGuessedAt) {
  fts::testing::TempDir d;
  std::string path = d / "p.yaml";
  fts::testing::write_file(path, "name: a\n");
  std::atomic<bool> stop{false};
  std::thread editor([&] {
    for (int i = 0; !stop; ++i) {
      fts::testing::write_file(path, "name: a\n# edit " + std::to_string(i) + "\n");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  std::vector<Diagnostic> diags;
  auto text = read_settled(path, &diags);
  stop = true;
  editor.join();
  EXPECT_FALSE(text.has_value());
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_NE(diags[0].message.find("changed while being read"), std::string::npos) << diags[0].message;
}

TEST(SettledRead, AMissingFileCannotBeRead) {
  fts::testing::TempDir d;
  std::vector<Diagnostic> diags;
  EXPECT_FALSE(read_settled(d / "none.yaml", &diags).has_value());
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].message, "cannot read file");
}

}  // namespace
}  // namespace fts::config
