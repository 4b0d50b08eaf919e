#include "render/fields.h"

#include <cstring>

#include "common/time.h"

namespace fts::render {

uint64_t dev_number(uint64_t kernel_dev) { return decode::user_dev(kernel_dev); }

std::string protocol_name(uint8_t p) {
  if (p == 6) return "tcp";
  if (p == 17) return "udp";
  if (p == 1) return "icmp";
  if (p == 58) return "icmpv6";
  return "ip_" + std::to_string(p);
}

std::string boot_time(uint64_t boot_ns) { return rfc3339(boot_to_wall_ns(boot_ns)); }

const char* file_access_word(const decode::File& f) {
  if (f.op != decode::FileOp::kOpen) return decode::to_string(f.op);
  return (f.access & decode::access::kWrite) ? "write" : "read";
}

std::string io_uring_op_name(uint32_t opcode) {
  static const char* kOps[] = {
      "nop",          "readv",        "writev",      "fsync",          "read_fixed",     "write_fixed",
      "poll_add",     "poll_remove",  "sync_file_range", "sendmsg",    "recvmsg",        "timeout",
      "timeout_remove", "accept",     "async_cancel", "link_timeout",  "connect",        "fallocate",
      "openat",       "close",        "files_update", "statx",         "read",           "write",
      "fadvise",      "madvise",      "send",        "recv",           "openat2",        "epoll_ctl",
      "splice",       "provide_buffers", "remove_buffers", "tee",      "shutdown",       "renameat",
      "unlinkat",     "mkdirat",      "symlinkat",   "linkat",         "msg_ring",       "fsetxattr",
      "setxattr",     "fgetxattr",    "getxattr",    "socket",         "uring_cmd",      "send_zc",
      "sendmsg_zc",   "read_multishot", "waitid",    "futex_wait",     "futex_wake",     "futex_waitv",
      "fixed_fd_install", "ftruncate", "bind",       "listen"};
  if (opcode == ~0u) return "create";
  if (opcode < std::size(kOps)) return kOps[opcode];
  return "op_" + std::to_string(opcode);
}

std::string signal_name(uint32_t sig) {
  const char* abbrev = sigabbrev_np(static_cast<int>(sig));
  return abbrev ? std::string("SIG") + abbrev : "";
}

void device_info(const decode::Device& d, v1::DeviceInfo* out) {
  out->set_path(d.path);
  out->set_class_(decode::to_string(d.cls));
  out->set_major(d.major);
  out->set_minor(d.minor);
  access_names(d.access, [&](const char* n) { out->add_access(n); });
  if (d.source == decode::Source::kSyscall) out->set_result(d.result);
  out->set_source(d.source == decode::Source::kFanotify ? "fanotify" : "syscall");
  if (d.dev || d.ino) {
    out->set_dev(dev_number(d.dev));
    out->set_ino(d.ino);
  }
}

}  // namespace fts::render
