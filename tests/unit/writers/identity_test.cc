// Approved writers by the file the kernel saw them exec: the names the kernel
// watches, and writers that predate the daemon seeded from /proc.
#include "writers/identity.h"

#include <gtest/gtest.h>

#include "support/fake_kernel.h"
#include "support/fake_proc.h"
#include "support/fixtures.h"

namespace fts::writers {
namespace {

using fts::testing::FakeProc;

policy::PolicySet set_with_writers(std::vector<std::string> writers) {
  policy::PolicySet set;
  policy::Policy p;
  p.spec.set_name("ft");
  for (auto& w : writers) p.spec.mutable_data()->add_writers(w);
  set.add(std::move(p));
  return set;
}

TEST(WriterIdentity, TheKernelWatchesExecsOfEachWritersFileName) {
  auto set = set_with_writers({"/usr/local/bin/dataset-sync", "**/ingest", "/opt/x/*"});
  EXPECT_EQ(writer_names(set), (std::set<std::string>{"dataset-sync", "ingest"}));
}

TEST(WriterIdentity, WritersRunningBeforeTheDaemonAreSeededFromProc) {
  fts::testing::TempDir bin, proc;
  fts::testing::write_file(bin / "dataset-sync", "#!/bin/sh\n");
  fts::testing::write_file(bin / "other", "#!/bin/sh\n");
  add_fake_proc(proc, FakeProc{.pid = 10, .ppid = 1, .start_ticks = 5, .exe = bin / "dataset-sync",
                               .environ = std::string("PATH=/bin\0", 10)});
  add_fake_proc(proc, FakeProc{.pid = 11, .ppid = 1, .start_ticks = 6, .exe = bin / "dataset-sync",
                               .environ = std::string("LD_PRELOAD=/tmp/evil.so\0", 24)});
  add_fake_proc(proc, FakeProc{.pid = 12, .ppid = 1, .start_ticks = 7, .exe = bin / "other"});
  fts::testing::FakeWriters kernel;
  Identity id(&kernel, proc.path());
  id.apply(set_with_writers({bin / "dataset-sync"}));

  EXPECT_EQ(kernel.names, std::set<std::string>{"dataset-sync"});
  ASSERT_EQ(kernel.execs.size(), 2u) << "not the process that runs another file";
  EXPECT_TRUE(kernel.execs.at(10).clean);
  EXPECT_TRUE(kernel.execs.at(10).from_proc);
  EXPECT_FALSE(kernel.execs.at(11).clean) << "LD_PRELOAD in its environment";
  EXPECT_TRUE(id.check({10, 5 * decode::kNsPerTick}, bin / "dataset-sync").approved);
  EXPECT_FALSE(id.check({11, 6 * decode::kNsPerTick}, bin / "dataset-sync").approved);
  EXPECT_FALSE(id.check({10, 9 * decode::kNsPerTick}, bin / "dataset-sync").approved) << "another start";
}

TEST(WriterIdentity, NoKernelNoWriter) {
  Identity id(nullptr, "/proc");
  EXPECT_FALSE(id.check({1, decode::kNsPerTick}, "/bin/cp").approved);
}

}  // namespace
}  // namespace fts::writers
