#pragma once
// One formatter per field type, shared by every rendering of a record (events,
// alerts, journal rows, OCSF, syslog, HEC): a field reads the same wherever a
// SIEM user meets it.
//
//   time, start_time   RFC 3339 UTC, microseconds, one boot-to-wall offset per daemon
//   file.dev           a JSON number: the device as stat(2) reports st_dev
//                      (makedev(major, minor); `stat -c %d` prints it)
//   file.ino, bytes    JSON numbers
//   network.protocol   tcp | udp | ip_N (N the IP protocol number)
#include <cstdint>
#include <string>

#include "common/v1.h"
#include "decode/records.h"
#include "ftsentinel/v1/event.pb.h"

namespace fts::render {

// The kernel's dev_t (major << 20 | minor) as user space's st_dev.
uint64_t dev_number(uint64_t kernel_dev);
std::string protocol_name(uint8_t ip_protocol);
// A CLOCK_BOOTTIME stamp as RFC 3339, with the daemon's one offset.
std::string boot_time(uint64_t boot_ns);
// What an alert's file.access says of a file record: read | write | the op.
const char* file_access_word(const decode::File& f);
std::string io_uring_op_name(uint32_t opcode);
std::string signal_name(uint32_t sig);  // "SIGSTOP", or "" when unknown

// A GPU or RDMA device open, as events and alerts show it.
void device_info(const decode::Device& d, v1::DeviceInfo* out);

// Names of set bits, in a fixed order.
template <typename Add>
void access_names(uint16_t access, Add add) {
  static const std::pair<uint16_t, const char*> kAccess[] = {
      {decode::access::kRead, "read"},         {decode::access::kWrite, "write"},   {decode::access::kCreate, "create"},
      {decode::access::kTruncate, "truncate"}, {decode::access::kAppend, "append"}, {decode::access::kExec, "exec"},
      {decode::access::kDirectory, "directory"}};
  for (const auto& [bit, name] : kAccess)
    if (access & bit) add(name);
}
template <typename Add>
void class_names(uint32_t classes, Add add) {
  static const std::pair<uint32_t, const char*> kClasses[] = {{decode::cls::kTraining, "training"},
                                                               {decode::cls::kOutputs, "outputs"},
                                                               {decode::cls::kProtected, "protected"},
                                                               {decode::cls::kSensitive, "sensitive"},
                                                               {decode::cls::kBase, "base"},
                                                               {decode::cls::kCode, "code"},
                                                               {decode::cls::kCache, "cache"}};
  for (const auto& [bit, name] : kClasses)
    if (classes & bit) add(name);
}

}  // namespace fts::render
