#include "watch/watch.h"

#include <dirent.h>
#include <stdint.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/glob.h"

namespace fts::watch {
namespace {

namespace fs = std::filesystem;

bool has_wildcard(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

std::vector<std::string> expand(const std::string& pattern) {
  if (!has_wildcard(pattern)) return {pattern};
  std::vector<std::string> out;
  glob_t g{};
  if (::glob(pattern.c_str(), GLOB_NOSORT | GLOB_NOCHECK, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i)
      if (!has_wildcard(g.gl_pathv[i])) out.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  return out;
}

// Mount points strictly below `dir`: their files' d_parent chains end at
// their own root, never at `dir`'s inode, so they are watched by their roots.
std::vector<std::string> mounts_below(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::string prefix = dir == "/" ? "/" : dir + "/";
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, mountpoint;
    ls >> id >> parent >> devno >> root >> mountpoint;
    if (mountpoint.size() > prefix.size() && mountpoint.compare(0, prefix.size(), prefix) == 0)
      out.push_back(mountpoint);
  }
  return out;
}

}  // namespace

std::optional<InodeKey> inode_of(const std::string& path, bool* is_dir, nlink_t* nlink) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  if (is_dir) *is_dir = S_ISDIR(st.st_mode);
  if (nlink) *nlink = st.st_nlink;
  return InodeKey{decode::kernel_dev(st.st_dev), st.st_ino};
}

std::vector<Pattern> patterns_of(const policy::PolicySet& policies) {
  std::vector<Pattern> out;
  for (const auto& b : base_list()) out.push_back({b, decode::cls::kBase});
  // The loader's preload list, built in: a change to it by anyone is reported
  // (preload-injection). By name, so creating it where it is absent is seen too.
  out.push_back({"**/ld.so.preload", decode::cls::kPreload});
  for (const policy::Policy* p : policies.in_force()) {
    const auto& d = p->spec.data();
    for (const auto& g : d.training()) out.push_back({g, decode::cls::kTraining});
    for (const auto& g : d.outputs()) out.push_back({g, decode::cls::kOutputs});
    for (const auto& g : d.protected_()) out.push_back({g, decode::cls::kProtected});
    // A cache is protected in the kernel: anyone's change is reported, and fanotify marks it.
    for (const auto& g : d.caches()) out.push_back({g, decode::cls::kProtected | decode::cls::kCache});
    for (const auto& g : d.sensitive()) out.push_back({g, decode::cls::kSensitive});
    for (const auto& g : d.base()) out.push_back({g, decode::cls::kBase});
  }
  return out;
}

void Watcher::resolve(std::map<InodeKey, WatchValue>* inodes, std::map<std::string, WatchValue>* names,
                      std::vector<Root>* roots, size_t budget) {
  ++resolves_;
  auto add_root = [&](const std::string& path, uint32_t classes, bool is_dir) -> uint32_t {
    roots->push_back(Root{path, classes, is_dir});
    return static_cast<uint32_t>(roots->size() - 1);
  };
  auto add_inode = [&](const InodeKey& k, uint32_t classes, uint32_t id) {
    auto [it, fresh] = inodes->try_emplace(k, WatchValue{classes, id});
    if (!fresh) it->second.classes |= classes;  // the first root names it; classes add up
  };

  for (const auto& p : patterns_) {
    std::string g = p.glob;
    // "**/name": any file so named. The kernel matches the leaf name; the
    // whole glob is checked in user space.
    if (g.rfind("**/", 0) == 0) {
      std::string leaf = glob_literal_basename(g);
      if (!leaf.empty()) {
        uint32_t id = add_root(g, p.classes, false);
        auto [it, fresh] = names->try_emplace(leaf, WatchValue{p.classes, id});
        if (!fresh) it->second.classes |= p.classes;
      }
      continue;
    }
    // "/dir/**" watches the directory; "/a/**/b" over-approximates by "/a".
    std::string base = g;
    if (base.size() > 3 && base.compare(base.size() - 3, 3, "/**") == 0) base.resize(base.size() - 3);
    if (size_t dbl = base.find("**"); dbl != std::string::npos) {
      base = base.substr(0, dbl);
      if (size_t slash = base.rfind('/'); slash != std::string::npos) base.resize(slash ? slash : 1);
    }
    for (const auto& path : expand(base)) {
      bool is_dir = false;
      auto key = inode_of(path, &is_dir);
      if (!key) continue;  // not there yet: a rescan will find it
      add_inode(*key, p.classes, add_root(path, p.classes, is_dir));
      if (!is_dir) continue;
      for (const auto& m : mounts_below(path)) {
        bool mdir = false;
        if (auto mk = inode_of(m, &mdir)) add_inode(*mk, p.classes, add_root(m, p.classes, mdir));
      }
      if (p.classes & decode::cls::kBase) continue;
      // Files one by one where it matters: sensitive files (so a read outside
      // a job costs one lookup of the file's own inode) and hard-linked data
      // files (a second name outside the tree still reaches the inode). Each
      // is its own root: a file found by its inode is named by its path here.
      if (!(p.classes & decode::cls::kSensitive)) {
        for (const auto& [file, fk] : scan_links(path, &budget)) add_inode(fk, p.classes, add_root(file, p.classes, false));
        continue;
      }
      size_t n = 0;
      std::error_code ec;
      for (fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec), end;
           it != end && n < limits_.files_per_sensitive_dir; it.increment(ec), ++n) {
        if (ec) break;
        if (!it->is_regular_file(ec)) continue;
        if (auto fk = inode_of(it->path().string())) add_inode(*fk, p.classes, add_root(it->path().string(), p.classes, false));
      }
    }
  }
}

// Reads directories of the walk until `*budget` files were looked at; a
// directory cut off is read on from where it stopped (seekdir) next time, so
// no directory stays open between rescans.
std::map<std::string, InodeKey> Watcher::scan_links(const std::string& tree, size_t* budget) {
  LinkScan& s = scans_[tree];
  if (s.dirs.empty() && s.done_in == resolves_) return s.last;
  if (s.dirs.empty()) {  // a new pass
    s.dirs.emplace_back(tree, 0);
    s.files = 0;
    s.found.clear();
  }
  while (!s.dirs.empty() && *budget > 0 && s.files < limits_.files_scanned_for_links) {
    auto [dir, from] = std::move(s.dirs.back());
    s.dirs.pop_back();
    DIR* d = opendir(dir.c_str());
    if (!d) continue;  // gone or not readable: skipped, as before
    if (from) seekdir(d, from);
    for (;;) {
      long at = telldir(d);
      const dirent* de = readdir(d);
      if (!de) break;
      if (*budget == 0 || s.files >= limits_.files_scanned_for_links) {
        s.dirs.emplace_back(dir, at);  // cut off: read on from this entry next time
        break;
      }
      std::string_view name = de->d_name;
      if (name == "." || name == "..") continue;
      struct stat st {};
      if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      std::string path = dir == "/" ? "/" + std::string(name) : dir + "/" + std::string(name);
      if (S_ISDIR(st.st_mode)) {  // a symlink to a directory is not walked into
        s.dirs.emplace_back(std::move(path), 0);
        continue;
      }
      ++s.files, --*budget, ++last_link_scan_;
      // A symlink to a file counts as that file, as a path through it reaches it.
      if (S_ISLNK(st.st_mode) && fstatat(dirfd(d), de->d_name, &st, 0) != 0) continue;
      if (S_ISREG(st.st_mode) && st.st_nlink > 1)
        s.found.emplace(std::move(path), InodeKey{decode::kernel_dev(st.st_dev), st.st_ino});
    }
    closedir(d);
  }
  if (s.files >= limits_.files_scanned_for_links) s.dirs.clear();  // the tree's limit: this pass ends here
  if (s.dirs.empty()) {  // a whole pass: what it found is what is
    s.last = s.found;
    s.done_in = resolves_;
  }
  std::map<std::string, InodeKey> known = s.last;
  known.insert(s.found.begin(), s.found.end());
  return known;
}

Result<size_t> Watcher::apply(std::vector<Pattern> patterns) {
  patterns_ = std::move(patterns);
  std::map<InodeKey, WatchValue> inodes;
  std::map<std::string, WatchValue> names;
  std::vector<Root> roots;
  scans_.clear();  // walked whole now, from the new patterns
  last_link_scan_ = 0;
  resolve(&inodes, &names, &roots, SIZE_MAX);
  if (auto st = kernel_->set_watched(inodes); !st) return make_error(st.error());
  if (auto st = kernel_->set_watched_names(names); !st) return make_error(st.error());
  inodes_ = std::move(inodes);
  names_ = std::move(names);
  roots_ = std::move(roots);
  return inodes_.size();
}

Result<bool> Watcher::rescan() {
  std::map<InodeKey, WatchValue> inodes;
  std::map<std::string, WatchValue> names;
  std::vector<Root> roots;
  last_link_scan_ = 0;
  resolve(&inodes, &names, &roots, limits_.links_scanned_per_rescan);
  auto same = [](const auto& a, const auto& b) {
    if (a.size() != b.size()) return false;
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib)
      if (!(ia->first == ib->first) || ia->second.classes != ib->second.classes || ia->second.id != ib->second.id)
        return false;
    return true;
  };
  if (same(inodes, inodes_) && same(names, names_)) return false;
  if (auto st = kernel_->set_watched(inodes); !st) return make_error(st.error());
  if (auto st = kernel_->set_watched_names(names); !st) return make_error(st.error());
  inodes_ = std::move(inodes);
  names_ = std::move(names);
  roots_ = std::move(roots);
  return true;
}

std::string Watcher::canonical(const decode::File& f) const {
  // fanotify names files through our own view of the tree already.
  if (f.source != decode::Source::kSyscall) return "";
  if (f.watch_id >= roots_.size() || f.path_from_user || f.matched_by_name) return "";
  const Root& r = roots_[f.watch_id];
  if (f.match_depth == 0) return r.path;
  // The last `match_depth` components of the kernel's path, under the root.
  size_t pos = f.path.size();
  for (int i = 0; i < f.match_depth; ++i) {
    size_t slash = f.path.rfind('/', pos == 0 ? 0 : pos - 1);
    if (slash == std::string::npos) return "";
    pos = slash;
  }
  std::string tail = f.path.substr(pos);
  return r.path == "/" ? tail : r.path + tail;
}

std::optional<WatchValue> Watcher::lookup(const InodeKey& k) const {
  auto it = inodes_.find(k);
  if (it == inodes_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Watcher::change_watched_paths() const {
  std::set<std::string> out;
  for (const auto& r : roots_) {
    if (!(r.classes & (decode::cls::kProtected | decode::cls::kOutputs))) continue;
    if (r.path.rfind("**/", 0) == 0) continue;
    out.insert(r.is_dir ? r.path : fs::path(r.path).parent_path().string());
  }
  return {out.begin(), out.end()};
}

}  // namespace fts::watch
