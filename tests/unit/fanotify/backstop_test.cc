// The fanotify backstop against a real fanotify group, on a tmpfs of the
// test's own (so nothing else on the machine writes there): the daemon's own
// directories are ignored in the kernel, a watched tree is not.
#include "fanotify/backstop.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "watch/watch.h"

namespace fts::fanotify {
namespace {

namespace fs = std::filesystem;

class NoKernel : public watch::KernelWatch {
 public:
  Status set_watched(const std::map<watch::InodeKey, watch::WatchValue>&) override { return {}; }
  Status set_watched_names(const std::map<std::string, watch::WatchValue>&) override { return {}; }
};

class BackstopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "fanotify and a tmpfs mount need root";
    root_ = fs::temp_directory_path() / ("fts-backstop-" + std::to_string(getpid()));
    fs::create_directories(root_);
    ASSERT_EQ(mount("fts-backstop", root_.c_str(), "tmpfs", 0, "size=4m"), 0) << std::strerror(errno);
    mounted_ = true;
    fs::create_directories(root_ / "state/spool");
    fs::create_directories(root_ / "data");
  }
  void TearDown() override {
    if (mounted_) umount2(root_.c_str(), MNT_DETACH);
    if (!root_.empty()) fs::remove_all(root_);
  }
  void write(const std::string& rel) { std::ofstream(root_ / rel) << "x\n"; }
  std::string p(const std::string& rel) const { return (root_ / rel).string(); }

  fs::path root_;
  bool mounted_ = false;
};

TEST_F(BackstopTest, TheDaemonsOwnDirectoriesAreIgnoredAWatchedTreeIsNot) {
  NoKernel k;
  watch::Watcher w(&k);
  ASSERT_TRUE(w.apply({{p("data/**"), decode::cls::kProtected}}).ok());
  auto watched = w.change_watched_paths();
  // as if another process were the daemon: this test's writes are not self-skipped
  auto b = Backstop::start("/proc", 1);
  ASSERT_TRUE(b.ok()) << b.error();
  ASSERT_TRUE((*b)->watch_filesystems(watched).ok());
  EXPECT_EQ((*b)->ignore_own({p("state"), p("state/spool")}, watched), 2u);
  EXPECT_EQ((*b)->ignore_own({p("data"), root_.string()}, watched), 0u) << "a watched tree, or one around it, stays";

  std::vector<decode::File> changes;
  auto collect = [&](decode::File&& f) { changes.push_back(std::move(f)); };
  write("state/journal.db-wal");
  write("state/spool/000001.seg");
  EXPECT_EQ((*b)->read(w, collect), 0u) << "the kernel queued nothing for the own directories";
  write("data/shard-0.jsonl");  // the control: the same group sees a watched tree's change
  EXPECT_GT((*b)->read(w, collect), 0u);
  ASSERT_FALSE(changes.empty());
  for (const auto& c : changes) EXPECT_EQ(c.path, p("data/shard-0.jsonl"));
}

// Outside its ignored directories the daemon's own change is read, and
// dropped: no change record, and its pidfd is closed (no fd left behind).
TEST_F(BackstopTest, TheDaemonsOwnChangeElsewhereIsDropped) {
  NoKernel k;
  watch::Watcher w(&k);
  ASSERT_TRUE(w.apply({{p("data/**"), decode::cls::kProtected}}).ok());
  auto b = Backstop::start("/proc", static_cast<uint32_t>(getpid()));
  ASSERT_TRUE(b.ok()) << b.error();
  ASSERT_TRUE((*b)->watch_filesystems(w.change_watched_paths()).ok());
  std::vector<decode::File> changes;
  auto collect = [&](decode::File&& f) { changes.push_back(std::move(f)); };
  auto fds = [] { return std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator{}); };
  auto before = fds();
  write("data/shard-0.jsonl");
  EXPECT_GT((*b)->read(w, collect), 0u) << "the change was queued (the control)";
  EXPECT_TRUE(changes.empty()) << changes.front().path;
  EXPECT_EQ(fds(), before);
}

}  // namespace
}  // namespace fts::fanotify
