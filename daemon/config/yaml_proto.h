#pragma once
// YAML onto a protobuf message, by field name, with the position of every
// mistake: "file:line:column: field.path: what is wrong".
#include <google/protobuf/message.h>
#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

namespace fts::config {

struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  std::string field;
  std::string message;
  std::string str() const;
};

// Fills `out` from `node`. Unknown keys, wrong types, bad enum names and
// scalars out of range are reported; parsing goes on to report them all.
void yaml_to_proto(const YAML::Node& node, google::protobuf::Message* out, const std::string& file,
                   std::vector<Diagnostic>* diags);

// A file's whole text, read once it is still: a file rewritten in place
// (`cat > f`, an editor that does not rename) is on disk half written for a
// moment, and a reload must not run that half. A file that keeps changing for
// seconds is a diagnostic ("changed while being read"), as is one that cannot
// be read; `sha256` (hex) is of the text returned.
std::optional<std::string> read_settled(const std::string& path, std::vector<Diagnostic>* diags,
                                        std::string* sha256 = nullptr);

// Parses `text` (the content of `path`) into `out`; returns the YAML tree
// (null on a syntax error, which is one diagnostic).
YAML::Node load_yaml_text(const std::string& text, const std::string& path, google::protobuf::Message* out,
                          std::vector<Diagnostic>* diags);

// read_settled, then load_yaml_text.
void load_yaml_file(const std::string& path, google::protobuf::Message* out,
                    std::vector<Diagnostic>* diags);

// Where the value at `field` (dotted path) was written, for semantic errors
// found after mapping. Returns a diagnostic at that node, or at 1:1.
Diagnostic diag_at(const YAML::Node& root, const std::string& file, const std::string& field,
                   std::string message);

}  // namespace fts::config
