// data.manifest at load (and --check): an absolute path; a bad line is an
// error at its own file, line and column; a manifest not there yet is a warning.
#include <gtest/gtest.h>

#include "config/config.h"
#include "support/fixtures.h"

namespace fts::config {
namespace {

using fts::testing::TempDir;
using fts::testing::write_file;

std::string policy(const std::string& manifest) {
  return "name: ft\nmode: monitor\ndata:\n  training: [\"/data/**\"]\n  manifest: " + manifest + "\n";
}

TEST(ManifestConfig, AGoodManifestLoads) {
  TempDir d;
  write_file(d / "m/SHA256SUMS", std::string(64, 'a') + "  s0.jsonl\n");
  write_file(d / "pol/ft.yaml", policy(d / "m/SHA256SUMS"));
  std::vector<Diagnostic> errors, warnings;
  auto set = load_policies(d / "pol", &errors, &warnings);
  EXPECT_TRUE(errors.empty()) << errors[0].str();
  EXPECT_TRUE(warnings.empty());
  ASSERT_EQ(set->all().size(), 1u);
}

TEST(ManifestConfig, BadLinesAreErrorsAtTheirLineAndColumn) {
  TempDir d;
  write_file(d / "m/SHA256SUMS", std::string(64, 'a') + "  s0.jsonl\n" + std::string(64, 'a') + "-s1\n");
  write_file(d / "pol/ft.yaml", policy(d / "m/SHA256SUMS"));
  std::vector<Diagnostic> errors, warnings;
  load_policies(d / "pol", &errors, &warnings);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].str(), (d / "m/SHA256SUMS") +
                                 ":2:65: data.manifest: expected two spaces (or ' *') between the hash and the name");
}

TEST(ManifestConfig, ARelativePathIsAnErrorAMissingFileAWarning) {
  TempDir d;
  write_file(d / "pol/a.yaml", policy("SHA256SUMS"));
  std::vector<Diagnostic> errors, warnings;
  load_policies(d / "pol", &errors, &warnings);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "data.manifest");
  EXPECT_EQ(errors[0].line, 5);
  EXPECT_NE(errors[0].message.find("absolute"), std::string::npos);

  TempDir e;
  write_file(e / "pol/b.yaml", policy(e / "later/SHA256SUMS"));
  errors.clear();
  load_policies(e / "pol", &errors, &warnings);
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].message.find("cannot read"), std::string::npos) << warnings[0].str();
}

}  // namespace
}  // namespace fts::config
