// Watched data: globs resolved to (dev, inode) and written to the kernel maps.
#include "watch/watch.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fts::watch {
namespace {

namespace fs = std::filesystem;

class FakeKernel : public KernelWatch {
 public:
  Status set_watched(const std::map<InodeKey, WatchValue>& inodes) override {
    inodes_ = inodes;
    ++writes_;
    return {};
  }
  Status set_watched_names(const std::map<std::string, WatchValue>& names) override {
    names_ = names;
    return {};
  }
  std::map<InodeKey, WatchValue> inodes_;
  std::map<std::string, WatchValue> names_;
  int writes_ = 0;
};

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("fts-watch-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(root_ / "data/approved");
    fs::create_directories(root_ / "home/alice/.aws");
    fs::create_directories(root_ / "home/bob");
    touch("data/approved/a.jsonl");
    touch("home/alice/.aws/credentials");
  }
  void TearDown() override { fs::remove_all(root_); }
  void touch(const std::string& rel) { std::ofstream(root_ / rel) << "x\n"; }
  std::string p(const std::string& rel) const { return (root_ / rel).string(); }
  InodeKey key(const std::string& rel) const { return *inode_of(p(rel)); }

  fs::path root_;
  FakeKernel kernel_;
};

TEST_F(WatchTest, DirectoriesAreWatchedByInodeWithTheirClasses) {
  Watcher w(&kernel_);
  ASSERT_TRUE(w.apply({{p("data/**"), decode::cls::kProtected}, {p("data/approved/**"), decode::cls::kTraining}}).ok());
  ASSERT_TRUE(kernel_.inodes_.count(key("data")));
  ASSERT_TRUE(kernel_.inodes_.count(key("data/approved")));
  EXPECT_EQ(kernel_.inodes_[key("data")].classes, decode::cls::kProtected);
  EXPECT_EQ(kernel_.inodes_[key("data/approved")].classes, decode::cls::kTraining);
  // the kernel's dev_t, not stat's
  struct stat st {};
  ASSERT_EQ(stat(p("data").c_str(), &st), 0);
  EXPECT_EQ(key("data").dev, (uint64_t{major(st.st_dev)} << 20) | minor(st.st_dev));
  // a plain file in a data tree is found through its directory, not one by one
  EXPECT_FALSE(kernel_.inodes_.count(key("data/approved/a.jsonl")));
}

TEST_F(WatchTest, GlobsInTheMiddleAreExpandedAndSensitiveFilesRegisteredOneByOne) {
  Watcher w(&kernel_);
  ASSERT_TRUE(w.apply({{p("home/*/.aws/**"), decode::cls::kSensitive}}).ok());
  EXPECT_TRUE(kernel_.inodes_.count(key("home/alice/.aws")));
  // files too: a read outside a job checks only the file's own inode
  ASSERT_TRUE(kernel_.inodes_.count(key("home/alice/.aws/credentials")));
  EXPECT_EQ(kernel_.inodes_[key("home/alice/.aws/credentials")].classes, decode::cls::kSensitive);
  EXPECT_EQ(kernel_.inodes_.size(), 2u);  // bob has no .aws yet
}

TEST_F(WatchTest, DirectoriesCreatedAfterStartArePickedUpByRescan) {
  Watcher w(&kernel_);
  ASSERT_TRUE(w.apply({{p("home/*/.aws/**"), decode::cls::kSensitive},
                       {p("late/approved/**"), decode::cls::kTraining}}).ok());
  int writes = kernel_.writes_;
  auto unchanged = w.rescan();
  ASSERT_TRUE(unchanged.ok());
  EXPECT_FALSE(*unchanged);
  EXPECT_EQ(kernel_.writes_, writes);  // nothing new: no map writes

  fs::create_directories(root_ / "home/bob/.aws");
  touch("home/bob/.aws/config");
  fs::create_directories(root_ / "late/approved");
  auto changed = w.rescan();
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  EXPECT_TRUE(kernel_.inodes_.count(key("home/bob/.aws")));
  EXPECT_TRUE(kernel_.inodes_.count(key("home/bob/.aws/config")));
  EXPECT_TRUE(kernel_.inodes_.count(key("late/approved")));
}

TEST_F(WatchTest, LeadingDoubleStarWatchesTheLeafName) {
  Watcher w(&kernel_);
  ASSERT_TRUE(w.apply({{"**/.cache/huggingface/token", decode::cls::kSensitive}}).ok());
  ASSERT_TRUE(kernel_.names_.count("token"));
  EXPECT_EQ(kernel_.names_["token"].classes, decode::cls::kSensitive);
  EXPECT_TRUE(kernel_.inodes_.empty());
}

TEST_F(WatchTest, HardLinkedDataFilesAreRegisteredByInode) {
  fs::create_directories(root_ / "outside");
  touch("outside/evil.jsonl");
  fs::create_hard_link(root_ / "outside/evil.jsonl", root_ / "data/approved/linked.jsonl");
  Watcher w(&kernel_);
  ASSERT_TRUE(w.apply({{p("data/approved/**"), decode::cls::kTraining}}).ok());
  ASSERT_TRUE(kernel_.inodes_.count(key("outside/evil.jsonl")));  // same inode, either name
  EXPECT_EQ(kernel_.inodes_[key("outside/evil.jsonl")].classes, decode::cls::kTraining);
  // named by its path in the tree
  decode::File f;
  f.path = p("outside/evil.jsonl");
  f.watch_id = kernel_.inodes_[key("outside/evil.jsonl")].id;
  f.match_depth = 0;
  EXPECT_EQ(w.canonical(f), p("data/approved/linked.jsonl"));
}

// A rescan looks at a bounded slice of a big tree (the pipeline thread runs
// it every 10 s), yet a hard link made after start is still found, by a later
// rescan, and one removed is forgotten.
TEST_F(WatchTest, RescansWalkABigTreeInSlicesAndStillFindNewHardLinks) {
  fs::create_directories(root_ / "data/approved/sub");
  fs::create_directories(root_ / "outside");
  for (int i = 0; i < 10; ++i) touch("data/approved/sub/s" + std::to_string(i) + ".jsonl");  // 11 files in all
  Limits limits;
  limits.links_scanned_per_rescan = 3;
  Watcher w(&kernel_, limits);
  ASSERT_TRUE(w.apply({{p("data/approved/**"), decode::cls::kTraining}}).ok());
  EXPECT_EQ(w.last_link_scan(), 11u) << "apply walks the whole tree";
  EXPECT_FALSE(kernel_.inodes_.count(key("data/approved/sub/s7.jsonl")));

  fs::create_hard_link(root_ / "data/approved/sub/s7.jsonl", root_ / "outside/alias.jsonl");
  int rescans = 0;
  while (!kernel_.inodes_.count(key("data/approved/sub/s7.jsonl")) && rescans < 20) {
    ASSERT_TRUE(w.rescan().ok());
    EXPECT_LE(w.last_link_scan(), 3u) << "a slice, not the tree";
    ++rescans;
  }
  ASSERT_TRUE(kernel_.inodes_.count(key("data/approved/sub/s7.jsonl"))) << "found within a pass or two";
  EXPECT_LE(rescans, 8) << "11 files, 3 a rescan: at most two passes";
  EXPECT_EQ(kernel_.inodes_[key("outside/alias.jsonl")].classes, decode::cls::kTraining) << "either name";
  decode::File f;
  f.path = p("outside/alias.jsonl");
  f.watch_id = kernel_.inodes_[key("outside/alias.jsonl")].id;
  f.match_depth = 0;
  EXPECT_EQ(w.canonical(f), p("data/approved/sub/s7.jsonl"));

  InodeKey linked = key("data/approved/sub/s7.jsonl");
  fs::remove(root_ / "outside/alias.jsonl");
  for (int i = 0; i < 12 && kernel_.inodes_.count(linked); ++i) ASSERT_TRUE(w.rescan().ok());
  EXPECT_FALSE(kernel_.inodes_.count(linked)) << "a link gone is forgotten once a whole pass missed it";
}

TEST_F(WatchTest, CanonicalNameIsTheWatchedRootPlusTheComponentsBelowIt) {
  Watcher w(&kernel_);
  ASSERT_TRUE(w.apply({{p("data/**"), decode::cls::kProtected}}).ok());
  decode::File f;
  f.path = "/mnt/bind/approved/a.jsonl";  // reached through a bind mount of data/
  f.watch_id = kernel_.inodes_[key("data")].id;
  f.match_depth = 2;  // approved/a.jsonl below data/
  EXPECT_EQ(w.canonical(f), p("data/approved/a.jsonl"));
  f.path_from_user = true;  // a caller's string is never rewritten
  EXPECT_EQ(w.canonical(f), "");
  f.path_from_user = false;
  f.watch_id = ~0u;
  EXPECT_EQ(w.canonical(f), "");
}

TEST_F(WatchTest, ClassesOfOneInodeAddUp) {
  Watcher w(&kernel_);
  ASSERT_TRUE(w.apply({{p("data/approved/**"), decode::cls::kTraining},
                       {p("data/approved/**"), decode::cls::kProtected}}).ok());
  EXPECT_EQ(kernel_.inodes_[key("data/approved")].classes, decode::cls::kTraining | decode::cls::kProtected);
}

TEST_F(WatchTest, ChangeWatchedPathsAreProtectedAndOutputsTrees) {
  fs::create_directories(root_ / "ckpt");
  Watcher w(&kernel_);
  ASSERT_TRUE(w.apply({{p("data/**"), decode::cls::kProtected},
                       {p("ckpt/**"), decode::cls::kOutputs},
                       {p("home/*/.aws/**"), decode::cls::kSensitive}}).ok());
  auto paths = w.change_watched_paths();
  EXPECT_EQ(paths, (std::vector<std::string>{p("ckpt"), p("data")}));
}

TEST(BaseList, CoversWhatPythonReadsAndNotThePreloadFile) {
  const auto& b = base_list();
  auto has = [&](const std::string& g) { return std::find(b.begin(), b.end(), g) != b.end(); };
  EXPECT_TRUE(has("/usr/**"));
  EXPECT_TRUE(has("/proc/**"));
  EXPECT_TRUE(has("/dev/**"));
  EXPECT_TRUE(has("/etc/ssl/**"));
  EXPECT_FALSE(has("/etc/ld.so.preload"));
  EXPECT_FALSE(has("/tmp/**"));
}

TEST(Patterns, PolicyDataSectionsMapToClasses) {
  policy::PolicySet set;
  policy::Policy p;
  p.spec.set_name("x");
  p.spec.mutable_data()->add_training("/d/a/**");
  p.spec.mutable_data()->add_outputs("/c/**");
  p.spec.mutable_data()->add_protected_("/d/**");
  p.spec.mutable_data()->add_sensitive("/s/**");
  p.spec.mutable_data()->add_base("/opt/tools/**");
  set.add(p);
  auto pats = patterns_of(set);
  auto cls_of = [&](const std::string& g) {
    uint32_t c = 0;
    for (const auto& x : pats)
      if (x.glob == g) c |= x.classes;
    return c;
  };
  EXPECT_EQ(cls_of("/d/a/**"), decode::cls::kTraining);
  EXPECT_EQ(cls_of("/c/**"), decode::cls::kOutputs);
  EXPECT_EQ(cls_of("/d/**"), decode::cls::kProtected);
  EXPECT_EQ(cls_of("/s/**"), decode::cls::kSensitive);
  EXPECT_EQ(cls_of("/opt/tools/**"), decode::cls::kBase);
  EXPECT_EQ(cls_of("/usr/**"), decode::cls::kBase);
}

}  // namespace
}  // namespace fts::watch
