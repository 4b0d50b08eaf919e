// The data section of a policy: paths the file sensor resolves.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"

namespace fts::config {
namespace {

using policy::PolicySet;

namespace fs = std::filesystem;

class DataPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fts-data-paths-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::shared_ptr<const PolicySet> load(const std::string& text) {
    std::ofstream(dir_ / "p.yaml") << text;
    return load_policies(dir_.string(), &errors_, &warnings_);
  }
  fs::path dir_;
  std::vector<Diagnostic> errors_, warnings_;
};

TEST_F(DataPathsTest, RelativeDataPathIsAnErrorAtItsPosition) {
  load("name: p\nmode: monitor\ndata:\n  training: [\"/ok/**\", \"data/approved/**\"]\n");
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0].field, "data.training[1]");
  EXPECT_EQ(errors_[0].line, 4);
  EXPECT_EQ(errors_[0].column, 24);  // the opening quote of the second entry
  EXPECT_NE(errors_[0].message.find("absolute"), std::string::npos);
}

TEST_F(DataPathsTest, BadGlobInDataIsAnError) {
  load("name: p\nmode: monitor\ndata:\n  sensitive:\n    - \"/home/[abc/.aws/**\"\n");
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0].field, "data.sensitive[0]");
  EXPECT_EQ(errors_[0].line, 5);
}

TEST_F(DataPathsTest, LeadingDoubleStarAndAbsolutePathsAreAccepted) {
  auto set = load("name: p\nmode: monitor\ndata:\n  sensitive: [\"**/.cache/huggingface/token\", \"/root/.ssh/**\"]\n"
                  "  base: [\"/opt/tools/**\"]\n");
  EXPECT_TRUE(errors_.empty());
  ASSERT_EQ(set->all().size(), 1u);
  EXPECT_EQ(set->all()[0].spec.data().base(0), "/opt/tools/**");
}

}  // namespace
}  // namespace fts::config
