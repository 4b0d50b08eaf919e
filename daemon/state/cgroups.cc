#include "state/cgroups.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fts::state {

std::string find_cgroup2_mount(const std::string& mountinfo) {
  std::ifstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
    size_t sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    std::istringstream tail(line.substr(sep + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, sep));
    std::string id, parent, dev, root, mountpoint;
    head >> id >> parent >> dev >> root >> mountpoint;
    return mountpoint;
  }
  return "";
}

const std::string& CgroupTable::path(uint64_t id) {
  static const std::string kUnknown;
  auto it = paths_.find(id);
  if (it != paths_.end()) return it->second;
  if (id == 0 || mount_.empty()) return kUnknown;
  scan();
  it = paths_.find(id);
  return it == paths_.end() ? kUnknown : it->second;
}

uint64_t CgroupTable::id_of(const std::string& path) const {
  struct stat st {};
  if (mount_.empty() || stat((mount_ + path).c_str(), &st) != 0) return 0;
  return st.st_ino;
}

std::vector<std::pair<uint64_t, std::string>> CgroupTable::scan() {
  namespace fs = std::filesystem;
  std::vector<std::pair<uint64_t, std::string>> out;
  if (mount_.empty()) return out;
  auto remember = [&](const fs::path& p) {
    struct stat st {};
    if (stat(p.c_str(), &st) != 0) return;
    std::string rel = p.string().substr(mount_.size());
    if (rel.empty()) rel = "/";
    paths_[st.st_ino] = rel;
    out.emplace_back(st.st_ino, rel);
  };
  remember(mount_);
  std::error_code ec;
  for (fs::recursive_directory_iterator it(mount_, fs::directory_options::skip_permission_denied, ec), end;
       it != end; it.increment(ec)) {
    if (ec) break;
    if (it->is_directory(ec) && !it->is_symlink(ec)) remember(it->path());
  }
  return out;
}

}  // namespace fts::state
