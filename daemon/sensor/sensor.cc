#include "sensor/sensor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <set>

#include <linux/types.h>
#include <arpa/inet.h>

extern "C" {
#include <ftsentinel/events.h>
}
#include "fts_skel.skel.h"
#include "common/model_file.h"

namespace fts::sensor {
namespace {

static_assert(kRingPollMs == FTS_RING_POLL_MS, "the daemon's ring poll must match the kernel's wakeup rule");

constexpr long kBpfFsMagic = 0xcafe4a11;

// libbpf's log, kept so a failed load can quote the verifier.
std::mutex g_log_mu;
std::deque<std::string> g_log;

int capture_log(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[1024];
  vsnprintf(buf, sizeof(buf), fmt, args);
  std::lock_guard<std::mutex> lock(g_log_mu);
  std::string text(buf);
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!line.empty()) g_log.push_back(line);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  while (g_log.size() > 64) g_log.pop_front();
  return 0;
}

std::string log_tail(size_t n) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  std::string out;
  size_t from = g_log.size() > n ? g_log.size() - n : 0;
  for (size_t i = from; i < g_log.size(); ++i) out += "\n  " + g_log[i];
  return out;
}

Error errno_error(const std::string& what, int err) {
  return make_error(what + ": " + std::strerror(err < 0 ? -err : err));
}

// Makes the basename-keyed map at `fd` hold exactly `names`: the new set
// goes in first, then what left it goes, so there is no moment without a
// name that stays.
Status sync_name_map(int fd, const std::map<std::string, uint32_t>& names, const char* what) {
  for (const auto& [name, value] : names) {
    fts_launcher_key key{};
    std::strncpy(key.name, name.c_str(), sizeof(key.name) - 1);
    if (bpf_map_update_elem(fd, &key, &value, BPF_ANY) != 0) return errno_error(std::string(what) + " map update", errno);
  }
  std::vector<fts_launcher_key> stale;
  fts_launcher_key key{}, next{};
  fts_launcher_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (!names.count(std::string(next.name, strnlen(next.name, sizeof(next.name))))) stale.push_back(next);
    key = next;
    prev = &key;
  }
  for (auto& k : stale) bpf_map_delete_elem(fd, &k);
  return {};
}

// The cgroup v2 mount (hybrid hosts: /sys/fs/cgroup/unified), or "".
std::string cgroup2_mount() {
  FILE* f = fopen("/proc/self/mountinfo", "re");
  if (!f) return "";
  char* line = nullptr;
  size_t cap = 0;
  std::string found;
  while (getline(&line, &cap, f) > 0) {
    std::string l(line);
    size_t sep = l.find(" - ");
    if (sep == std::string::npos || l.compare(sep + 3, 8, "cgroup2 ") != 0) continue;
    // fields: id parent major:minor root mount-point ...
    size_t pos = 0;
    for (int i = 0; i < 4 && pos != std::string::npos; ++i) pos = l.find(' ', pos + 1);
    if (pos == std::string::npos) continue;
    size_t end = l.find(' ', pos + 1);
    found = l.substr(pos + 1, end - pos - 1);
    break;
  }
  free(line);
  fclose(f);
  return found;
}

bool is_cgroup_prog(const bpf_program* p) {
  std::string_view sec = bpf_program__section_name(p);
  return sec.starts_with("cgroup/") || sec.starts_with("cgroup_skb/");
}

}  // namespace

// Records one consume() hands on at most (libbpf 1.1 has no consume_n): under
// a flood the producer never falls behind, and an unbounded drain would keep
// the event loop, and with it the control socket, from ever taking a turn.
constexpr int kConsumeBudget = 1024;
constexpr int kBudgetSpent = -ECANCELED;

struct Sensor::Impl {
  fts_skel* skel = nullptr;
  std::vector<bpf_link*> cgroup_links;  // the skeleton's attach cannot do cgroup programs
  ring_buffer* rb = nullptr;
  RecordHandler on_record;
  int consumed = 0;  // records of the current consume()
  fts_settings settings{};
  Options opts;

  // The steps of start, in order.
  Status open();
  Status load();
  Status attach();
  Status attach_cgroup_programs();
  Status open_ring();
  Status register_own_objects();
  Status pin_maps();
};

Status preflight(const Options& opts) {
  if (geteuid() != 0)
    return make_error("ftsentineld needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN) to load its BPF programs");
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
    return make_error("kernel BTF is missing: /sys/kernel/btf/vmlinux (needs CONFIG_DEBUG_INFO_BTF=y)");
  // Syscall tracepoints are attached through tracefs ids.
  if (access("/sys/kernel/tracing/events", F_OK) != 0 && access("/sys/kernel/debug/tracing/events", F_OK) != 0 &&
      mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    return make_error("tracefs is not mounted at /sys/kernel/tracing and mounting it failed: " +
                      std::string(std::strerror(errno)));
  if (opts.pin) {
    struct statfs fs {};
    if (statfs("/sys/fs/bpf", &fs) != 0 || fs.f_type != kBpfFsMagic) {
      if (mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) != 0)
        return make_error("bpffs is not mounted at /sys/fs/bpf and mounting it failed: " +
                          std::string(std::strerror(errno)));
    }
  }
  return {};
}

Sensor::Sensor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Sensor::~Sensor() {
  if (!impl_) return;
  if (impl_->rb) ring_buffer__free(impl_->rb);
  for (auto* l : impl_->cgroup_links) bpf_link__destroy(l);
  if (impl_->skel) fts_skel__destroy(impl_->skel);  // detaches every link
}

// What load needs settled first: ring size, which programs libbpf attaches,
// and the read-only data the verifier treats as constants.
Status Sensor::Impl::open() {
  skel = fts_skel__open();
  if (!skel) return errno_error("opening the BPF object failed", errno);
  if (int err = bpf_map__set_max_entries(skel->maps.events, opts.ringbuf_mb << 20))
    return errno_error("sizing the ring buffer", err);
  if (int err = bpf_map__set_max_entries(skel->maps.tasks, opts.tasks_max))
    return errno_error("sizing the tasks map", err);
  if (int err = bpf_map__set_max_entries(skel->maps.flows, opts.flows_max))
    return errno_error("sizing the flows map", err);
  bpf_program* p;
  bpf_object__for_each_program(p, skel->obj) {
    if (is_cgroup_prog(p)) bpf_program__set_autoattach(p, false);
  }
  skel->rodata->fts_daemon_tgid = opts.daemon_tgid;
  return {};
}

namespace {

// The pickle-based extensions into model_exts: the kernel opens a load
// window where common/model_file says loading runs code.
Status fill_model_exts(int fd) {
  for (const ModelExtension& ext : model_extensions(ModelFormat::kPickle)) {
    fts_model_ext_key key{};
    std::memcpy(key.ext, ext.suffix.data(), std::min(ext.suffix.size(), sizeof(key.ext) - 1));
    uint32_t where = ext.not_in_packages ? FTS_MODEL_EXT_NOT_PACKAGES : FTS_MODEL_EXT_ANY;
    if (bpf_map_update_elem(fd, &key, &where, BPF_ANY) != 0) return errno_error("model_exts map update", errno);
  }
  return {};
}

}  // namespace

// On failure the error names the program and quotes the verifier.
Status Sensor::Impl::load() {
  int err = fts_skel__load(skel);
  if (!err) return fill_model_exts(bpf_map__fd(skel->maps.model_exts));
  // libbpf names the program that failed: "prog 'NAME': failed to load".
  std::string prog = "?";
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    for (const auto& line : g_log) {
      size_t a = line.find("prog '");
      size_t b = line.find("': failed to load");
      if (a != std::string::npos && b != std::string::npos && b > a + 6) prog = line.substr(a + 6, b - a - 6);
    }
  }
  return make_error("loading BPF program '" + prog + "' failed (" + std::strerror(-err) +
                    "); the verifier's last lines:" + log_tail(12));
}

Status Sensor::Impl::attach() {
  if (int err = fts_skel__attach(skel))
    return make_error("attaching BPF programs failed (" + std::string(std::strerror(-err)) + ")" + log_tail(4));
  return attach_cgroup_programs();
}

// Egress hooks at the cgroup v2 root: every task on the host passes them.
Status Sensor::Impl::attach_cgroup_programs() {
  std::string cg_root = opts.cgroup2_root.empty() ? cgroup2_mount() : opts.cgroup2_root;
  if (cg_root.empty()) return make_error("no cgroup v2 mount in /proc/self/mountinfo: the egress hooks need one");
  int cg_fd = ::open(cg_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg_fd < 0) return errno_error("opening the cgroup v2 root " + cg_root, errno);
  bpf_program* p;
  bpf_object__for_each_program(p, skel->obj) {
    if (!is_cgroup_prog(p)) continue;
    bpf_link* link = bpf_program__attach_cgroup(p, cg_fd);
    if (!link) {
      int err = errno;
      close(cg_fd);
      return errno_error(std::string("attaching ") + bpf_program__name(p) + " at " + cg_root, err);
    }
    cgroup_links.push_back(link);
  }
  close(cg_fd);
  return {};
}

Status Sensor::Impl::open_ring() {
  rb = ring_buffer__new(
      bpf_map__fd(skel->maps.events),
      [](void* ctx, void* data, size_t size) -> int {
        auto* impl = static_cast<Impl*>(ctx);
        impl->on_record(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
        // libbpf has consumed this record already; a negative return only ends the call.
        return ++impl->consumed >= kConsumeBudget ? kBudgetSpent : 0;
      },
      this, nullptr);
  if (!rb) return errno_error("ring buffer setup failed", errno);
  return {};
}

// The daemon's own maps, programs and links by (kind, id): the kernel says
// when another process takes an fd to one, by pin or by id, or detaches one
// of its links (sensor-tamper).
Status Sensor::Impl::register_own_objects() {
  int own = bpf_map__fd(skel->maps.own_objects);
  auto add = [own](int fd, uint32_t type) -> Status {
    // One buffer for whichever kind the fd is; each is read through its own struct.
    union {
      bpf_map_info map;
      bpf_prog_info prog;
      bpf_link_info link;
    } info{};
    uint32_t len = sizeof(info);
    uint8_t one = 1;
    if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return {};  // a perf-event attachment: no id
    fts_obj_key key{type, type == FTS_OBJ_MAP ? info.map.id : type == FTS_OBJ_PROG ? info.prog.id : info.link.id};
    if (bpf_map_update_elem(own, &key, &one, BPF_ANY) != 0) return errno_error("own_objects map update", errno);
    return {};
  };
  bpf_map* m;
  bpf_object__for_each_map(m, skel->obj) {
    if (auto st = add(bpf_map__fd(m), FTS_OBJ_MAP); !st) return st;
  }
  const bpf_object_skeleton* s = skel->skeleton;
  for (int i = 0; i < s->prog_cnt; ++i) {
    const auto* ps = reinterpret_cast<const bpf_prog_skeleton*>(reinterpret_cast<const char*>(s->progs) +
                                                                 static_cast<size_t>(i) * s->prog_skel_sz);
    if (auto st = add(bpf_program__fd(*ps->prog), FTS_OBJ_PROG); !st) return st;
    if (*ps->link) {
      if (auto st = add(bpf_link__fd(*ps->link), FTS_OBJ_LINK); !st) return st;
    }
  }
  for (bpf_link* l : cgroup_links) {
    if (auto st = add(bpf_link__fd(l), FTS_OBJ_LINK); !st) return st;
  }
  return {};
}

Status Sensor::Impl::pin_maps() {
  if (!opts.pin) return {};
  std::filesystem::create_directories(opts.pin_dir);
  bpf_map* m;
  bpf_object__for_each_map(m, skel->obj) {
    if (bpf_map__is_internal(m)) continue;
    std::string path = opts.pin_dir + "/" + bpf_map__name(m);
    unlink(path.c_str());
    if (int err = bpf_map__pin(m, path.c_str())) return errno_error("pinning " + path, err);
  }
  return {};
}

Result<std::unique_ptr<Sensor>> Sensor::start(const Options& opts, RecordHandler on_record) {
  if (auto st = preflight(opts); !st) return make_error(st.error());
  libbpf_set_print(capture_log);
  auto impl = std::make_unique<Impl>();
  impl->on_record = std::move(on_record);
  impl->opts = opts;
  // Owned from here: a failed step below tears down what the earlier ones built.
  std::unique_ptr<Sensor> s(new Sensor(std::move(impl)));
  Impl& i = *s->impl_;
  for (auto step : {&Impl::open, &Impl::load}) {
    if (auto st = (i.*step)(); !st) return make_error(st.error());
  }
  if (auto st = s->write_settings(); !st) return make_error(st.error());
  for (auto step : {&Impl::attach, &Impl::open_ring, &Impl::register_own_objects, &Impl::pin_maps}) {
    if (auto st = (i.*step)(); !st) return make_error(st.error());
  }
  return s;
}

int Sensor::ring_fd() const { return ring_buffer__epoll_fd(impl_->rb); }

int Sensor::consume() {
  impl_->consumed = 0;
  int r = ring_buffer__consume(impl_->rb);
  return r == kBudgetSpent ? impl_->consumed : r;
}

std::vector<Program> Sensor::programs() const {
  std::vector<Program> out;
  bpf_program* p;
  bpf_object__for_each_program(p, impl_->skel->obj) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    uint32_t id = 0;
    if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) == 0) id = info.id;
    out.push_back(Program{bpf_program__name(p), bpf_program__section_name(p), id});
  }
  return out;
}

Counters Sensor::counters() const {
  Counters c;
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return c;
  std::vector<uint64_t> vals(static_cast<size_t>(ncpu));
  int fd = bpf_map__fd(impl_->skel->maps.counters);
  auto read = [&](uint32_t key) {
    std::fill(vals.begin(), vals.end(), 0);
    bpf_map_lookup_elem(fd, &key, vals.data());
  };
  read(FTS_CNT_RINGBUF_DROPS);
  c.ringbuf_drops_per_cpu = vals;
  for (auto v : vals) c.ringbuf_drops += v;
  read(FTS_CNT_TASKS_FULL);
  for (auto v : vals) c.tasks_full += v;
  read(FTS_CNT_EVENTS);
  for (auto v : vals) c.events += v;
  read(FTS_CNT_UNTRACKED_REFUSED);
  for (auto v : vals) c.untracked_refused += v;
  read(FTS_CNT_FLOWS_STARTED);
  for (auto v : vals) c.flows_started += v;
  read(FTS_CNT_FLOWS_ENDED);
  for (auto v : vals) c.flows_ended += v;
  return c;
}

uint64_t Sensor::flows_evicted() const {
  uint64_t started = counters().flows_started;
  int fd = bpf_map__fd(impl_->skel->maps.flows);
  uint64_t live = 0, key = 0, next = 0;
  uint64_t* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0 && live < (1u << 22)) {
    key = next;
    prev = &key;
    ++live;
  }
  uint64_t ended = counters().flows_ended;
  return started > ended + live ? started - ended - live : 0;
}

size_t Sensor::tasks_tracked() const {
  int fd = bpf_map__fd(impl_->skel->maps.tasks);
  size_t n = 0;
  uint32_t key, next;
  uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0 && n < 1u << 20) {
    key = next;
    prev = &key;
    ++n;
  }
  return n;
}

Result<decode::ExitedExe> Sensor::exited_exe(uint32_t tgid) const {
  fts_exited_exe x{};
  if (bpf_map_lookup_elem(bpf_map__fd(impl_->skel->maps.exited_exes), &tgid, &x) != 0)
    return make_error("no exit of " + std::to_string(tgid) + " kept");
  return decode::decode_exited_exe(tgid, {reinterpret_cast<const uint8_t*>(&x), sizeof(x)});
}

std::vector<decode::Net> Sensor::open_flows() const {
  std::vector<decode::Net> out;
  int fd = bpf_map__fd(impl_->skel->maps.flows);
  uint64_t key = 0, next = 0;
  uint64_t* prev = nullptr;
  struct timespec ts {};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
  while (bpf_map_get_next_key(fd, prev, &next) == 0 && out.size() < (1u << 20)) {
    key = next;
    prev = &key;
    fts_flow f{};
    if (bpf_map_lookup_elem(fd, &key, &f) != 0) continue;  // closed meanwhile
    auto n = decode::decode_flow(key, {reinterpret_cast<const uint8_t*>(&f), sizeof(f)}, now);
    if (!n) continue;  // cannot happen: the value is the size the decoder reads
    out.push_back(*n);
  }
  return out;
}

Status Sensor::track(uint32_t tgid, uint64_t start_ticks, uint64_t job_id, uint32_t policy) {
  fts_task_state st{};
  st.start_ticks = start_ticks;
  st.job_id = job_id;
  st.policy = policy;
  if (bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.tasks), &tgid, &st, BPF_ANY) != 0)
    return errno_error("tasks map update", errno);
  return {};
}

Status Sensor::untrack(uint32_t tgid) {
  bpf_map_delete_elem(bpf_map__fd(impl_->skel->maps.tasks), &tgid);
  return {};
}

Status Sensor::set_writer_names(const std::set<std::string>& names) {
  std::map<std::string, uint32_t> ones;
  for (const auto& n : names) ones.emplace(n, 1);
  return sync_name_map(bpf_map__fd(impl_->skel->maps.writer_names), ones, "writer_names");
}

std::optional<decode::WriterExec> Sensor::writer_exec(uint32_t tgid) const {
  fts_writer_exec x{};
  if (bpf_map_lookup_elem(bpf_map__fd(impl_->skel->maps.writer_execs), &tgid, &x) != 0) return std::nullopt;
  auto w = decode::decode_writer_exec(tgid, {reinterpret_cast<const uint8_t*>(&x), sizeof(x)});
  if (!w) return std::nullopt;
  return *w;
}

Status Sensor::seed_writer_exec(const decode::WriterExec& w) {
  if (auto now = writer_exec(w.task.tgid); now && now->task.start_ticks() == w.task.start_ticks())
    return {};  // the kernel saw this very process exec: its word stands
  fts_writer_exec x{};
  x.start_ns = w.task.start_ns;
  x.dev = w.dev;
  x.ino = w.ino;
  x.flags = FTS_WRITER_FROM_PROC | (w.clean ? FTS_WRITER_CLEAN : 0);
  if (bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.writer_execs), &w.task.tgid, &x, BPF_ANY) != 0)
    return errno_error("writer_execs map update", errno);
  return {};
}

std::optional<uint64_t> Sensor::job_of(uint32_t tgid, uint64_t start_ticks) const {
  fts_task_state st{};
  if (bpf_map_lookup_elem(bpf_map__fd(impl_->skel->maps.tasks), &tgid, &st) != 0) return std::nullopt;
  if (st.start_ticks != start_ticks || !st.job_id) return std::nullopt;
  return st.job_id;
}

// devices::KernelDevices: whole majors under FTS_DEVICE_ANY_MINOR with their
// minor range, misc devices by (10, minor). New entries first, then stale ones
// (a pinned map from an earlier start) go.
Status Sensor::set_device_classes(const devices::Table& table) {
  int fd = bpf_map__fd(impl_->skel->maps.device_classes);
  std::set<std::pair<uint32_t, uint32_t>> keys;
  for (const auto& r : table.ranges) {
    fts_device_key key{r.major, r.exact ? r.minor_min : FTS_DEVICE_ANY_MINOR};
    if (!keys.insert({key.major, key.minor}).second) continue;  // the first entry of a key wins, as Table::find
    fts_device_class_value v{static_cast<uint32_t>(r.cls), r.minor_min, r.minor_max, 0};
    if (bpf_map_update_elem(fd, &key, &v, BPF_ANY) != 0) return errno_error("device_classes map update", errno);
  }
  std::vector<fts_device_key> stale;
  fts_device_key key{}, next{};
  fts_device_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (!keys.count({next.major, next.minor})) stale.push_back(next);
    key = next;
    prev = &key;
  }
  for (auto& k : stale) bpf_map_delete_elem(fd, &k);
  return {};
}

Status Sensor::set_launchers(const std::map<std::string, uint32_t>& names) {
  return sync_name_map(bpf_map__fd(impl_->skel->maps.launchers), names, "launchers");
}

Status Sensor::set_cgroup_job(uint64_t cgroup_id, uint64_t job_id, uint32_t policy) {
  fts_cgroup_job v{};
  v.job_id = job_id;
  v.policy = policy;
  if (bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.job_cgroups), &cgroup_id, &v, BPF_ANY) != 0)
    return errno_error("job_cgroups map update", errno);
  return {};
}

Status Sensor::clear_cgroup_job(uint64_t cgroup_id) {
  bpf_map_delete_elem(bpf_map__fd(impl_->skel->maps.job_cgroups), &cgroup_id);
  return {};
}

Status Sensor::set_report_all_exec(bool on) {
  if (on) impl_->settings.flags |= FTS_SET_REPORT_ALL_EXEC;
  else impl_->settings.flags &= ~FTS_SET_REPORT_ALL_EXEC;
  return write_settings();
}

namespace {

// Rewrites the policy id of every entry of a job map whose id is remapped.
// Each update is one element: a task sees its old policy or its new one.
template <typename K, typename V>
void retag_map(int fd, const std::map<uint32_t, uint32_t>& ids) {
  K key{}, next{};
  K* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    V v{};
    if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
      auto it = ids.find(v.policy);
      if (it != ids.end()) {
        v.policy = it->second;
        bpf_map_update_elem(fd, &next, &v, BPF_EXIST);  // gone meanwhile: nothing to retag
      }
    }
    key = next;
    prev = &key;
  }
}

}  // namespace

Status Sensor::retag(const std::map<uint32_t, uint32_t>& ids) {
  if (ids.empty()) return {};
  // Twice: a task forked during the first pass copied its parent's old id.
  for (int pass = 0; pass < 2; ++pass) {
    retag_map<uint32_t, fts_task_state>(bpf_map__fd(impl_->skel->maps.tasks), ids);
    retag_map<uint64_t, fts_cgroup_job>(bpf_map__fd(impl_->skel->maps.job_cgroups), ids);
  }
  return {};
}

namespace {

// Make a hash map hold exactly `want`: add and update first, then delete the
// keys no longer wanted, so no lookup in between misses an entry that stays.
template <typename K, typename V, typename Less>
Status replace_map(int fd, const std::map<K, V, Less>& want, const char* what) {
  for (const auto& [k, v] : want)
    if (bpf_map_update_elem(fd, &k, &v, BPF_ANY) != 0) return errno_error(std::string(what) + " map update", errno);
  std::vector<K> stale;
  K key{}, next{};
  K* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (!want.count(next)) stale.push_back(next);
    key = next;
    prev = &key;
  }
  for (auto& k : stale) bpf_map_delete_elem(fd, &k);
  return {};
}

fts_egress_ports kernel_ports(const std::vector<policy::PortRange>& ports) {
  fts_egress_ports v{};
  for (size_t i = 0; i < FTS_EGRESS_RANGES; ++i) {
    v.lo[i] = 1;  // unused: lo > hi
    v.hi[i] = 0;
  }
  for (size_t i = 0; i < ports.size() && i < FTS_EGRESS_RANGES; ++i) {
    v.lo[i] = ports[i].lo;
    v.hi[i] = ports[i].hi;
  }
  return v;
}

struct InodeLess {
  bool operator()(const fts_inode_key& a, const fts_inode_key& b) const {
    return a.dev != b.dev ? a.dev < b.dev : a.ino < b.ino;
  }
};
struct NameLess {
  bool operator()(const fts_name_key& a, const fts_name_key& b) const {
    return std::strncmp(a.name, b.name, sizeof(a.name)) < 0;
  }
};
// Keys compared as the kernel does: their bytes (initialized whole, padding too).
template <typename K>
struct BytesLess {
  bool operator()(const K& a, const K& b) const { return std::memcmp(&a, &b, sizeof(K)) < 0; }
};

}  // namespace

Status Sensor::set_watched(const std::map<watch::InodeKey, watch::WatchValue>& inodes) {
  std::map<fts_inode_key, fts_watch, InodeLess> want;
  for (const auto& [k, v] : inodes) want[fts_inode_key{k.dev, k.ino}] = fts_watch{v.classes, v.id};
  return replace_map(bpf_map__fd(impl_->skel->maps.watched), want, "watched");
}

Status Sensor::set_watched_names(const std::map<std::string, watch::WatchValue>& names) {
  std::map<fts_name_key, fts_watch, NameLess> want;
  __u64 lens = 0;  // the kernel's prefilter (fts_name_lens in bpf/lib/file.h)
  for (const auto& [n, v] : names) {
    fts_name_key k{};
    std::strncpy(k.name, n.c_str(), sizeof(k.name) - 1);
    want[k] = fts_watch{v.classes, v.id};
    lens |= 1ull << std::min<size_t>(std::strlen(k.name), 63);
  }
  // Widened before the map changes and narrowed after: a name being added or
  // removed is looked up meanwhile, never skipped.
  __u64* in_kernel = &impl_->skel->bss->fts_name_lens;  // the mmapped .bss the programs read
  __atomic_fetch_or(in_kernel, lens, __ATOMIC_SEQ_CST);
  Status st = replace_map(bpf_map__fd(impl_->skel->maps.watched_names), want, "watched_names");
  if (st) __atomic_store_n(in_kernel, lens, __ATOMIC_SEQ_CST);
  return st;
}

Status Sensor::set_egress(const std::vector<egress::LpmEntry>& entries) {
  std::map<fts_egress_key, fts_egress_ports, BytesLess<fts_egress_key>> want;
  for (const auto& e : entries) {
    fts_egress_key k{};
    k.prefixlen = 32 + e.prefix;
    k.policy = htonl(e.policy);
    std::memcpy(k.addr, e.addr.data(), 16);
    want[k] = kernel_ports(e.ports);
  }
  return replace_map(bpf_map__fd(impl_->skel->maps.egress), want, "egress");
}


Status Sensor::set_dns_names(const std::vector<egress::NameEntry>& names) {
  std::map<fts_dns_name_key, fts_egress_ports, BytesLess<fts_dns_name_key>> want;
  for (const auto& n : names) {
    fts_dns_name_key k{};
    k.policy = n.policy;
    std::memcpy(k.name, n.wire.data(), std::min(n.wire.size(), sizeof(k.name)));
    want[k] = kernel_ports(n.ports);
  }
  return replace_map(bpf_map__fd(impl_->skel->maps.dns_names), want, "dns_names");
}

Status Sensor::set_dns_resolvers(const std::vector<egress::ResolverEntry>& resolvers) {
  std::map<fts_dns_resolver_key, uint8_t, BytesLess<fts_dns_resolver_key>> want;
  for (const auto& r : resolvers) {
    fts_dns_resolver_key k{};
    k.policy = r.policy;
    k.port = r.resolver.port;
    std::memcpy(k.addr, r.resolver.addr.data(), 16);
    want[k] = 1;
  }
  return replace_map(bpf_map__fd(impl_->skel->maps.dns_resolvers), want, "dns_resolvers");
}

size_t Sensor::expire_dns_allowed(uint64_t now_boot_ns, bool all) {
  int fd = bpf_map__fd(impl_->skel->maps.dns_allowed);
  std::vector<fts_dns_allowed_key> gone;
  fts_dns_allowed_key key{}, next{};
  fts_dns_allowed_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0 && gone.size() < (1u << 20)) {
    fts_dns_allowed v{};
    if (all || (bpf_map_lookup_elem(fd, &next, &v) == 0 && v.expires_ns <= now_boot_ns)) gone.push_back(next);
    key = next;
    prev = &key;
  }
  size_t n = 0;
  for (auto& k : gone) n += bpf_map_delete_elem(fd, &k) == 0;
  return n;
}

Status Sensor::set_policy_enforce(uint32_t policy, bool enforce) {
  fts_policy_net v{};
  v.flags = enforce ? FTS_POLICY_NET_ENFORCE : 0;
  if (bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.policy_net), &policy, &v, BPF_ANY) != 0)
    return errno_error("policy_net map update (policy " + std::to_string(policy) + ")", errno);
  return {};
}

Status Sensor::write_settings() {
  uint32_t zero = 0;
  fts_settings s{};
  s.flags = impl_->settings.flags;
  if (bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.settings), &zero, &s, BPF_ANY) != 0)
    return errno_error("settings map update", errno);
  return {};
}

}  // namespace fts::sensor
