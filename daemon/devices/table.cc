#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "devices/devices.h"

namespace fts::devices {
namespace {

constexpr uint32_t kMiscMajor = 10;

// "NNN name" lines of one section of /proc/devices ("Character devices:"),
// or of all of /proc/misc: name -> numbers (a name may register twice:
// infiniband_verbs has a fixed major and a dynamic one).
std::multimap<std::string, uint32_t> numbered(std::string_view text, bool char_section_only) {
  std::multimap<std::string, uint32_t> out;
  std::istringstream in{std::string(text)};
  std::string line;
  bool in_chars = !char_section_only;
  while (std::getline(in, line)) {
    if (char_section_only && line.find("devices:") != std::string::npos) {
      in_chars = line.rfind("Character", 0) == 0;
      continue;
    }
    if (!in_chars) continue;
    std::istringstream l(line);
    uint32_t n;
    std::string name;
    if (l >> n >> name) out.emplace(name, n);
  }
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

const Range* Table::find(uint32_t major, uint32_t minor) const {
  const Range* whole = nullptr;
  for (const auto& r : ranges) {
    if (r.major != major) continue;
    if (r.exact && r.minor_min == minor) return &r;
    if (!r.exact && !whole && minor >= r.minor_min && minor <= r.minor_max) whole = &r;
  }
  return whole;
}

Table resolve(const std::vector<v1::DeviceClass>& classes, std::string_view proc_devices, std::string_view proc_misc) {
  auto majors = numbered(proc_devices, true);
  auto miscs = numbered(proc_misc, false);
  Table t;
  for (const auto& c : classes) {
    auto cls = c.class_() == "rdma" ? decode::DeviceClass::kRdma : decode::DeviceClass::kGpu;
    for (const auto& name : c.proc_devices()) {
      auto [lo, hi] = majors.equal_range(name);
      if (lo == hi) t.absent.push_back(name);
      for (auto it = lo; it != hi; ++it)
        t.ranges.push_back({it->second, c.minor_min(), c.minor_max() ? c.minor_max() : UINT32_MAX, false, cls, name});
    }
    for (const auto& name : c.misc()) {
      auto [lo, hi] = miscs.equal_range(name);
      if (lo == hi) t.absent.push_back(name);
      for (auto it = lo; it != hi; ++it) t.ranges.push_back({kMiscMajor, it->second, it->second, true, cls, name});
    }
  }
  return t;
}

Table resolve_from(const std::vector<v1::DeviceClass>& classes, const std::string& proc_root) {
  return resolve(classes, slurp(proc_root + "/devices"), slurp(proc_root + "/misc"));
}

std::vector<Node> scan(const std::string& dir, const Table& table, size_t limit) {
  namespace fs = std::filesystem;
  std::vector<Node> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end && out.size() < limit; it.increment(ec)) {
    struct stat st {};
    if (lstat(it->path().c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) continue;
    const Range* r = table.find(major(st.st_rdev), minor(st.st_rdev));
    if (!r) continue;
    out.push_back({it->path().string(), major(st.st_rdev), minor(st.st_rdev), r->cls, decode::kernel_dev(st.st_dev),
                   st.st_ino});
  }
  return out;
}

}  // namespace fts::devices
