// Device classes from /proc/devices and /proc/misc text, and the kernel's
// device record decoded: no kernel, no device needed.
#include <gtest/gtest.h>

#include <linux/types.h>

#include <cstring>
#include <vector>

#include "decode/records.h"
#include "devices/devices.h"
#include <ftsentinel/events.h>

namespace fts::devices {
namespace {

// /proc/devices of an 8-GPU InfiniBand node (drivers of 2024), and its /proc/misc.
constexpr const char* kProcDevices =
    "Character devices:\n"
    "  1 mem\n"
    " 10 misc\n"
    "195 nvidia\n"
    "195 nvidiactl\n"
    "226 drm\n"
    "231 infiniband_verbs\n"
    "234 nvidia-caps-imex-channels\n"
    "235 nvidia-caps\n"
    "509 infiniband_verbs\n"
    "510 nvidia-uvm\n"
    "\n"
    "Block devices:\n"
    "  8 sd\n"
    "226 drm-block-lookalike\n";
constexpr const char* kProcMisc = " 58 rdma_cm\n 59 vga_arbiter\n183 hw_random\n";

v1::DeviceClass cls(const char* c, std::vector<const char*> names, std::vector<const char*> misc, uint32_t lo = 0,
                    uint32_t hi = 0) {
  v1::DeviceClass x;
  x.set_class_(c);
  for (auto* n : names) x.add_proc_devices(n);
  for (auto* n : misc) x.add_misc(n);
  x.set_minor_min(lo);
  x.set_minor_max(hi);
  return x;
}

TEST(DeviceTable, NamesResolveToTheirMajorsAndMiscMinors) {
  Table t = resolve({cls("gpu", {"nvidia", "nvidia-uvm", "nvidia-frontend"}, {}), cls("gpu", {"drm"}, {}, 128),
                     cls("rdma", {"infiniband_verbs"}, {"rdma_cm"})},
                    kProcDevices, kProcMisc);
  auto at = [&](uint32_t major, uint32_t minor) -> std::string {
    const Range* r = t.find(major, minor);
    return r ? decode::to_string(r->cls) : "none";
  };
  EXPECT_EQ(at(195, 0), "gpu");
  EXPECT_EQ(at(195, 255), "gpu") << "nvidiactl is a minor of the same major";
  EXPECT_EQ(at(510, 1), "gpu");
  EXPECT_EQ(at(226, 128), "gpu") << "a render node";
  EXPECT_EQ(at(226, 0), "none") << "a display card node is not a compute device";
  EXPECT_EQ(at(231, 192), "rdma");
  EXPECT_EQ(at(509, 0), "rdma") << "infiniband_verbs' dynamic major too";
  EXPECT_EQ(at(10, 58), "rdma") << "rdma_cm is a misc minor";
  EXPECT_EQ(at(10, 59), "none") << "not every misc device";
  EXPECT_EQ(at(1, 3), "none");
  EXPECT_EQ(at(8, 0), "none") << "block majors are not character devices";
  EXPECT_EQ(t.absent, std::vector<std::string>{"nvidia-frontend"}) << "a driver this kernel lacks is said";
}

TEST(DeviceTable, MinorRangesAndGarbage) {
  Table t = resolve({cls("gpu", {"mem"}, {}, 7, 7)}, "Character devices:\n  1 mem\nnot a line\n 2\n", "junk");
  ASSERT_EQ(t.ranges.size(), 1u);
  EXPECT_NE(t.find(1, 7), nullptr);
  EXPECT_EQ(t.find(1, 3), nullptr);
  EXPECT_EQ(t.find(1, 8), nullptr);
  EXPECT_TRUE(resolve({cls("gpu", {"nvidia"}, {})}, "", "").ranges.empty()) << "no /proc: nothing, no crash";
}

TEST(DeviceRecord, DecodesAndRejectsAnUnknownClass) {
  std::vector<uint8_t> buf(sizeof(fts_device_event) + 16);
  auto* e = reinterpret_cast<fts_device_event*>(buf.data());
  e->hdr.kind = FTS_EV_DEVICE;
  e->hdr.job_id = 7;
  e->major = 195;
  e->minor = 3;
  e->cls = FTS_DEV_GPU;
  e->access = FTS_ACC_READ | FTS_ACC_WRITE;
  e->result = 5;
  const char path[] = "nvidia3\0dev\0";  // leaf first: /dev/nvidia3
  e->path_len = sizeof(path) - 1;
  e->path_depth = 2;
  std::memcpy(buf.data() + sizeof(*e), path, sizeof(path) - 1);
  e->hdr.size = sizeof(*e) + e->path_len;
  auto r = decode::decode(std::span<const uint8_t>(buf.data(), sizeof(*e) + e->path_len));
  ASSERT_TRUE(r) << r.error();
  const auto& d = std::get<decode::Device>(*r);
  EXPECT_EQ(d.path, "/dev/nvidia3");
  EXPECT_EQ(d.major, 195u);
  EXPECT_EQ(d.minor, 3u);
  EXPECT_EQ(d.cls, decode::DeviceClass::kGpu);
  EXPECT_EQ(d.result, 5);
  EXPECT_EQ(d.hdr.job_id, 7u);
  e->cls = 9;
  EXPECT_FALSE(decode::decode(std::span<const uint8_t>(buf.data(), sizeof(*e) + e->path_len)));
  e->cls = FTS_DEV_RDMA;
  e->path_len = 200;  // runs past the record
  e->hdr.size = buf.size();
  EXPECT_FALSE(decode::decode(std::span<const uint8_t>(buf.data(), buf.size())));
}

}  // namespace
}  // namespace fts::devices
