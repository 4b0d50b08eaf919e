#include "policy/manifest.h"


#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/glob.h"

namespace fts::policy {
namespace {

namespace fs = std::filesystem;

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// "./a/../b" -> "b"; "" for a name that leaves the directory.
std::string normalize(const std::string& name) {
  std::string n = fs::path(name).lexically_normal().string();
  if (n == "." || n.empty() || n.rfind("..", 0) == 0 || n[0] == '/') return "";
  return n;
}

std::string real_dir(const std::string& dir) {
  char buf[PATH_MAX];
  return realpath(dir.c_str(), buf) ? std::string(buf) : dir;
}

}  // namespace

Manifest Manifest::parse(const std::string& text, const std::string& dir, std::vector<ManifestError>* errors) {
  Manifest m;
  m.dir_ = dir.size() > 1 && dir.back() == '/' ? dir.substr(0, dir.size() - 1) : dir;
  m.real_dir_ = real_dir(m.dir_);
  std::istringstream in(text);
  std::string line;
  uint32_t no = 0;
  auto bad = [&](uint32_t col, std::string what) { errors->push_back({no, col, std::move(what)}); };
  while (std::getline(in, line)) {
    ++no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    // sha256sum writes "\" first when the name holds a backslash or newline.
    bool escaped = line[0] == '\\';
    size_t at = escaped ? 1 : 0;
    size_t i = at;
    while (i < line.size() && is_hex(line[i])) ++i;
    if (i - at != 64) {
      bad(static_cast<uint32_t>(at + 1), "expected a SHA-256 of 64 hex digits");
      continue;
    }
    if (i + 2 > line.size() || line[i] != ' ' || (line[i + 1] != ' ' && line[i + 1] != '*')) {
      bad(static_cast<uint32_t>(i + 1), "expected two spaces (or ' *') between the hash and the name");
      continue;
    }
    std::string name = line.substr(i + 2);
    if (escaped) {
      std::string u;
      for (size_t k = 0; k < name.size(); ++k) {
        if (name[k] == '\\' && k + 1 < name.size()) {
          ++k;
          u += name[k] == 'n' ? '\n' : name[k];
        } else {
          u += name[k];
        }
      }
      name = u;
    }
    std::string n = normalize(name);
    if (n.empty()) {
      bad(static_cast<uint32_t>(i + 3), "a name is a path inside the manifest's directory");
      continue;
    }
    std::string hex = line.substr(at, 64);
    for (auto& c : hex) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    m.entries_[n] = hex;
  }
  return m;
}

Result<Manifest> Manifest::load(const std::string& file, std::vector<ManifestError>* errors) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error("cannot read " + file + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), fs::path(file).parent_path().string(), errors);
}

std::string Manifest::relative(const std::string& path) const {
  for (const std::string* d : {&dir_, &real_dir_}) {
    if (d->empty()) continue;
    if (path_under(path, *d)) return normalize(path.substr(d->size() + 1));
  }
  return "";
}

std::optional<std::string> Manifest::find(const std::string& path) const {
  std::string rel = relative(path);
  if (rel.empty()) return std::nullopt;
  auto it = entries_.find(rel);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

bool Manifest::covers(const std::string& path) const { return !relative(path).empty(); }

}  // namespace fts::policy
