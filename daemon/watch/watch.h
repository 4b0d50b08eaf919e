#pragma once
// Watched data: the policies' `data` paths (and the base list) resolved to
// the (dev, inode) of directories and files the kernel checks a file's
// ancestry against. Globs are expanded at load and again on each rescan, so
// directories that appear later are picked up.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "policy/policy.h"
#include "decode/records.h"

namespace fts::watch {

struct InodeKey {
  uint64_t dev = 0;  // kernel dev_t
  uint64_t ino = 0;
  bool operator==(const InodeKey&) const = default;
  bool operator<(const InodeKey& o) const { return dev != o.dev ? dev < o.dev : ino < o.ino; }
};

struct InodeKeyHash {
  size_t operator()(const InodeKey& k) const { return std::hash<uint64_t>()(k.dev * 1000003u ^ k.ino); }
};

struct WatchValue {
  uint32_t classes = 0;
  uint32_t id = 0;  // index of the entry's resolved root in Watcher::roots()
};

// The kernel side of watching: the sensor implements it, tests fake it.
class KernelWatch {
 public:
  virtual ~KernelWatch() = default;
  // Replaces the whole set (adds first, then removes what is gone).
  virtual Status set_watched(const std::map<InodeKey, WatchValue>& inodes) = 0;
  virtual Status set_watched_names(const std::map<std::string, WatchValue>& names) = 0;
};

// One path pattern of a class, from a policy or the base list.
struct Pattern {
  std::string glob;
  uint32_t classes = 0;
};

// The built-in base list: what a normal Python/PyTorch/CUDA process reads.
const std::vector<std::string>& base_list();

// Every pattern of a policy set (and of the policies it retains for running
// jobs): data.training/outputs/protected/sensitive/caches, data.base and the base list.
std::vector<Pattern> patterns_of(const policy::PolicySet& policies);

// A resolved root: where a watched entry is, for naming files canonically.
struct Root {
  std::string path;
  uint32_t classes = 0;
  bool is_dir = false;
};

struct Limits {
  size_t files_per_sensitive_dir = 10000;  // registered one by one, so reads outside jobs cost one lookup
  size_t files_scanned_for_links = 200000; // per data tree, to find hard-linked files
  // Files a rescan looks at for hard links, all trees together: a tree of
  // more is walked over several rescans (apply walks it whole), so the
  // pipeline thread never pays a whole tree's stats in one tick.
  size_t links_scanned_per_rescan = 8192;
};

class Watcher {
 public:
  explicit Watcher(KernelWatch* kernel, Limits limits = {}) : kernel_(kernel), limits_(limits) {}

  // Expands and resolves `patterns`, writes the kernel maps. Returns how many
  // inodes are watched.
  Result<size_t> apply(std::vector<Pattern> patterns);
  // Re-expands the current patterns (new directories, new files in
  // sensitive directories, new hard links); writes the maps if anything changed.
  Result<bool> rescan();

  const std::vector<Root>& roots() const { return roots_; }
  // The path of a file record under its watched root, independent of the
  // mount it was reached through ("" if the record names no watched entry).
  std::string canonical(const decode::File& f) const;
  // Classes of a directory or file found by inode (fanotify), with its root.
  std::optional<WatchValue> lookup(const InodeKey& k) const;
  // Directories holding protected or outputs trees: the fanotify marks.
  std::vector<std::string> change_watched_paths() const;
  const std::map<InodeKey, WatchValue>& inodes() const { return inodes_; }
  const std::map<std::string, WatchValue>& names() const { return names_; }
  // Files the last apply or rescan looked at for hard links.
  size_t last_link_scan() const { return last_link_scan_; }

 private:
  // One data tree's walk for hard-linked files, carried over rescans: the
  // directories still to read (with where a cut-off read stopped: telldir),
  // what this pass found so far and what the last whole pass found.
  struct LinkScan {
    std::vector<std::pair<std::string, long>> dirs;
    size_t files = 0;
    std::map<std::string, InodeKey> found, last;
    uint64_t done_in = 0;  // the resolve that ended the last pass (a tree under two patterns is walked once)
  };
  void resolve(std::map<InodeKey, WatchValue>* inodes, std::map<std::string, WatchValue>* names,
               std::vector<Root>* roots, size_t budget);
  // Advances `tree`'s walk by `*budget` files at most; returns its hard-linked files known now.
  std::map<std::string, InodeKey> scan_links(const std::string& tree, size_t* budget);

  KernelWatch* kernel_;
  Limits limits_;
  std::vector<Pattern> patterns_;
  std::map<InodeKey, WatchValue> inodes_;
  std::map<std::string, WatchValue> names_;
  std::vector<Root> roots_;
  std::map<std::string, LinkScan> scans_;  // by tree path
  size_t last_link_scan_ = 0;
  uint64_t resolves_ = 0;
};

// The kernel dev_t and inode of a path, following symlinks.
std::optional<InodeKey> inode_of(const std::string& path, bool* is_dir = nullptr, nlink_t* nlink = nullptr);

}  // namespace fts::watch
