// cgroup v2: finding the mount in mountinfo, and ids <-> paths under it.
#include "state/cgroups.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "support/fixtures.h"

namespace fts::state {
namespace {

using fts::testing::TempDir;
using fts::testing::write_file;

TEST(FindCgroup2Mount, UnifiedHost) {
  TempDir d;
  write_file(d / "mountinfo",
             "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
             "35 22 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
             "rw,nsdelegate,memory_recursiveprot\n"
             "36 22 0:31 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:10 - bpf bpf rw,mode=700\n");
  EXPECT_EQ(find_cgroup2_mount(d / "mountinfo"), "/sys/fs/cgroup");
}

TEST(FindCgroup2Mount, HybridHostUsesUnified) {
  TempDir d;
  write_file(d / "mountinfo",
             "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
             "25 22 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
             "26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup "
             "rw,xattr,name=systemd\n"
             // no optional fields on this line: the separator still finds the fstype
             "27 25 0:25 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
             "28 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup "
             "rw,cpu,cpuacct\n");
  EXPECT_EQ(find_cgroup2_mount(d / "mountinfo"), "/sys/fs/cgroup/unified");
}

TEST(FindCgroup2Mount, V1OnlyHostHasNone) {
  TempDir d;
  write_file(d / "mountinfo",
             "25 22 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
             "26 25 0:24 / /sys/fs/cgroup/systemd rw,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd\n"
             "28 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory\n"
             "garbage line without separator\n");
  EXPECT_EQ(find_cgroup2_mount(d / "mountinfo"), "");
}

TEST(FindCgroup2Mount, MissingFileHasNone) {
  TempDir d;
  EXPECT_EQ(find_cgroup2_mount(d / "no-such-mountinfo"), "");
}

uint64_t ino(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(stat(p.c_str(), &st), 0) << p;
  return st.st_ino;
}

// A directory tree stands in for the cgroup2 mount: on cgroup v2 an id is
// the directory's inode, which is what the table relies on.
TEST(CgroupTable, ScanAndLookUpByIdAndPath) {
  TempDir mount;
  std::filesystem::create_directories(mount / "system.slice/finetune-1.scope");
  std::filesystem::create_directories(mount / "user.slice");
  CgroupTable t(mount.path());
  EXPECT_EQ(t.mount(), mount.path());
  uint64_t scope = ino(mount / "system.slice/finetune-1.scope");

  // Not seen yet: path() scans the mount.
  EXPECT_EQ(t.path(scope), "/system.slice/finetune-1.scope");
  EXPECT_EQ(t.path(ino(mount.path())), "/");
  EXPECT_EQ(t.id_of("/system.slice/finetune-1.scope"), scope);
  EXPECT_EQ(t.id_of("/nope"), 0u);
  EXPECT_EQ(t.path(0), "");

  auto all = t.scan();
  EXPECT_EQ(all.size(), 4u);  // root, system.slice, the scope, user.slice
}

TEST(CgroupTable, RecordsOverrideAndErase) {
  CgroupTable t;  // no mount: only what records said
  EXPECT_EQ(t.path(5), "");
  t.set(5, "/a/b");
  EXPECT_EQ(t.path(5), "/a/b");
  t.set(5, "/a/c");  // renamed or reused
  EXPECT_EQ(t.path(5), "/a/c");
  t.erase(5);
  EXPECT_EQ(t.path(5), "");
  EXPECT_EQ(t.id_of("/a/c"), 0u);
  EXPECT_TRUE(t.scan().empty());
}

}  // namespace
}  // namespace fts::state
