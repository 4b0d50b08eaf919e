#pragma once
// cgroup v2 ids and paths. On cgroup v2 a cgroup's id is its directory's
// inode number, so a walk of the mount names every id the kernel reports.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace fts::state {

// Where cgroup v2 is mounted ("/sys/fs/cgroup", or "/sys/fs/cgroup/unified"
// on hybrid hosts), or "" when it is not.
std::string find_cgroup2_mount(const std::string& mountinfo = "/proc/self/mountinfo");

class CgroupTable {
 public:
  explicit CgroupTable(std::string mount = "") : mount_(std::move(mount)) {}

  const std::string& mount() const { return mount_; }
  void set(uint64_t id, std::string path) { paths_[id] = std::move(path); }
  void erase(uint64_t id) { paths_.erase(id); }
  // The path of `id`, looked up in the mount when not seen yet; "" if unknown.
  const std::string& path(uint64_t id);
  // The id of `path` ("/a/b"), or 0.
  uint64_t id_of(const std::string& path) const;
  // Every cgroup below the mount; returns (id, path) pairs, also remembered.
  std::vector<std::pair<uint64_t, std::string>> scan();

 private:
  std::string mount_;
  std::unordered_map<uint64_t, std::string> paths_;
};

}  // namespace fts::state
