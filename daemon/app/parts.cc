#include "app/parts.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "app/survival.h"
#include "common/time.h"
#include "state/proc.h"

namespace fts::app {
namespace {

std::string hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

// The state directory and the directories under it (spools, the journal's):
// where the daemon writes with every batch. Bounded: a state_dir someone
// filled with a tree is not walked whole.
std::vector<std::string> own_directories(const std::string& state_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  std::filesystem::path root = std::filesystem::weakly_canonical(state_dir, ec);
  if (ec || !std::filesystem::is_directory(root, ec)) return out;
  out.push_back(root.string());
  auto it = std::filesystem::recursive_directory_iterator(root, std::filesystem::directory_options::skip_permission_denied, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator() && out.size() < 64; it.increment(ec)) {
    if (it.depth() >= 2) it.disable_recursion_pending();
    if (!it->is_symlink(ec) && it->is_directory(ec)) out.push_back(it->path().string());
  }
  return out;
}

}  // namespace

Parts::Parts(config::Loaded c)
    : cfg(std::move(c)),
      cgroups(cfg.daemon.sensor().cgroup_root().empty() ? state::find_cgroup2_mount()
                                                        : cfg.daemon.sensor().cgroup_root()) {}

Status Parts::start() {
  host = cfg.daemon.host().empty() ? hostname() : cfg.daemon.host();
  started_wall_ns = now_wall_ns();
  if (auto st = start_sensor(); !st) return st;
  if (auto st = start_outputs(); !st) return st;
  start_state();
  if (auto st = install_policies(); !st) return st;
  restore_jobs(*this);  // before the backstop and the loop: no record of theirs is read yet
  if (auto st = start_backstop(); !st) return st;
  return start_devices();
}

Status Parts::start_sensor() {
  const auto& s = cfg.daemon.sensor();
  sensor::Options so;
  so.ringbuf_mb = s.ringbuf_mb();
  so.tasks_max = s.tasks_max();
  so.flows_max = s.flows_max();
  so.pin = s.pin();
  so.pin_dir = s.pin_dir();
  so.daemon_tgid = static_cast<uint32_t>(getpid());
  so.cgroup2_root = s.cgroup_root();
  auto started = sensor::Sensor::start(so, [this](std::span<const uint8_t> b) { pipeline.push(b); });
  if (!started) return make_error(started.error());
  sensor = std::move(*started);
  return {};
}

// The configured outputs, a counter of what passes (for metrics), then the
// journal: one more consumer of events and alerts.
Status Parts::start_outputs() {
  auto out = sinks::make_sinks(cfg.daemon);
  if (!out) return make_error(out.error());
  sinks = std::move(*out);
  auto cs = std::make_unique<sinks::CountingSink>();
  counting = cs.get();
  sinks.push_back(std::move(cs));
  return open_journal();
}

// The journal only enqueues on this thread; its writer commits.
Status Parts::open_journal() {
  const auto& j = cfg.daemon.journal();
  if (j.path() == "off") return {};
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(j.path()).parent_path(), ec);
  auto key = journal::load_or_create_key(j.key_file());
  if (!key) return make_error(key.error());
  journal::SinkOptions o;
  o.path = j.path();
  o.key = std::move(*key);
  o.retention_days = j.retention_days();
  o.max_bytes = static_cast<uint64_t>(j.max_size_mb()) << 20;
  o.seal_interval_ms = j.seal_interval_seconds() * 1000;
  o.queue = j.queue();
  auto sink = journal::JournalSink::open(std::move(o));
  if (!sink) return make_error(sink.error());
  journal = sink->get();
  sinks.push_back(std::move(*sink));
  return {};
}

// Process and job state, content hashes, then the pipeline over them.
void Parts::start_state() {
  const auto& d = cfg.daemon;
  jobs = std::make_unique<jobs::JobManager>(sensor.get(), &procs, &cgroups, proc_root());
  watcher = std::make_unique<watch::Watcher>(sensor.get());
  egress = std::make_unique<egress::Egress>(sensor.get());
  writers = std::make_unique<writers::Identity>(sensor.get(), proc_root());
  reloader = std::make_unique<reload::Reloader>(
      reload::Reloader::Parts{jobs.get(), egress.get(), watcher.get(), writers.get()});
  pipeline::Context ctx{host, &procs, &cgroups, jobs.get(), watcher.get(), proc_root(), &sinks, &stats};
  ctx.totals = &totals;
  ctx.names = &names;
  ctx.egress = egress.get();
  ctx.rules = &rules;
  ctx.writers = writers.get();
  if (const sensor::Sensor* s = sensor.get()) ctx.exited = [s](uint32_t tgid) { return s->exited_exe(tgid); };
  ctx.redact = !d.detection().redact_off();
  if (uint32_t s = d.detection().model_load_window_seconds()) ctx.model_window_ns = s * 1'000'000'000ull;
  // Event ids unique across restarts: a SIEM that drops repeated ids (a spool
  // replayed after a crash) must never drop a new record that reuses an old
  // run's id. Each run starts at the wall clock in microseconds (exact in a
  // JSON double until 2255), ahead of every earlier run's ids unless that run
  // averaged a million records a second or the clock was stepped back.
  ctx.first_event_id = now_wall_ns() / 1000;
  rules.set_redact(ctx.redact);
  // Events are built only when the journal or an output takes them (`events: all`).
  ctx.render_events = journal != nullptr || std::any_of(d.outputs().begin(), d.outputs().end(), [](const v1::Output& o) {
                        return o.events() != "alerts";
                      });
  if (!d.detection().hash_off()) {
    hash::Options ho;
    if (d.detection().hash_queue()) ho.queue = d.detection().hash_queue();
    if (d.detection().hash_cache()) ho.cache = d.detection().hash_cache();
    hasher = std::make_unique<hash::Hasher>(ho);
    hashes = std::make_unique<hash::Tracker>(hasher.get());
    ctx.hashes = hashes.get();
  }
  pipeline = pipeline::Pipeline::standard(ctx);
}

// The first policies go in the way a reload puts them in (same steps, same
// order), after /proc is read so launchers already running become jobs.
Status Parts::install_policies() {
  bootstrapped = state::bootstrap(proc_root(), &procs);
  std::vector<jobs::JobChange> changes;
  std::vector<std::string> notes;
  if (auto st = reloader->install(cfg.policies, &changes, &notes); !st) return make_error("policies: " + st.error());
  pipeline.push_job_changes(std::move(changes));
  pipeline.flush();
  return {};
}

Status Parts::start_backstop() {
  fanotify::ExitedLookup exited;
  if (const sensor::Sensor* s = sensor.get()) exited = [s](uint32_t tgid) { return s->exited_exe(tgid); };
  auto started = fanotify::Backstop::start(proc_root(), static_cast<uint32_t>(getpid()), std::move(exited));
  if (!started) return make_error("fanotify backstop: " + started.error());
  backstop = std::move(*started);
  auto watched = watcher->change_watched_paths();
  if (auto st = backstop->watch_filesystems(watched); !st) return st;
  backstop->ignore_own(own_directories(cfg.daemon.state_dir()), watched);
  return {};
}

// Device numbers into the kernel (job opens), marks on their nodes (everyone
// else's opens). A class whose driver is not loaded has no number yet: its
// devices are recognised after a restart once it is.
Status Parts::start_devices() {
  const auto& d = cfg.daemon.devices();
  std::vector<v1::DeviceClass> classes(d.classes().begin(), d.classes().end());
  device_table = devices::resolve_from(classes, proc_root());
  if (auto st = sensor->set_device_classes(device_table); !st) return make_error("devices: " + st.error());
  for (const auto& r : device_table.ranges)
    spdlog::info("devices: {} {}:{}{} is {}", r.name, r.major, r.exact ? std::to_string(r.minor_min) : "*",
                 !r.exact && r.minor_min ? " (minor >= " + std::to_string(r.minor_min) + ")" : "",
                 decode::to_string(r.cls));
  if (d.dev_dir() == "off") return {};
  devices::ExitedLookup exited;
  if (const sensor::Sensor* s = sensor.get()) exited = [s](uint32_t tgid) { return s->exited_exe(tgid); };
  auto started = devices::Watch::start(proc_root(), static_cast<uint32_t>(getpid()), std::move(exited));
  if (!started) return make_error("devices: " + started.error());
  device_watch = std::move(*started);
  size_t marked = device_watch->mark(devices::scan(d.dev_dir(), device_table));
  spdlog::info("devices: {} GPU/RDMA device node(s) under {} marked for opens", marked, d.dev_dir());
  return {};
}

void Parts::emit(health::Emitted e) { health::emit(pipeline, std::move(e)); }

health::Snapshot Parts::snapshot() const {
  health::Snapshot s;
  s.pid = static_cast<uint32_t>(getpid());
  s.started = rfc3339(started_wall_ns);
  s.programs = sensor->programs();
  s.sensor = sensor->counters();
  s.tasks_tracked = sensor->tasks_tracked();
  s.tasks_capacity = cfg.daemon.sensor().tasks_max();
  if (backstop) s.fanotify_overflows = backstop->overflows();
  if (device_watch) s.fanotify_overflows += device_watch->overflows();  // device opens lost
  s.flows_evicted = std::max(loss.flows_evicted(), sensor->flows_evicted());
  s.pipeline = stats;
  s.jobs_live = static_cast<uint32_t>(jobs->live_count());
  for (const auto& p : jobs->policies().all()) s.policies.push_back(p.spec.name());
  s.reloads = reloads;
  s.reloads.generation = reloader->generation();
  if (hasher) s.hash = health::HashState{hasher->stats(), hashes->files()};
  s.alert_repeats = rules.suppressed();
  if (journal) s.journal = health::JournalState{cfg.daemon.journal().path(), journal->stats(), journal->seals(),
                                                journal->pruned_runs()};
  for (const auto& sink : sinks)
    if (auto st = sink->stats(); !st.name.empty()) s.outputs.push_back(std::move(st));
  s.counts = counting;
  if (control_stats) s.control = *control_stats;
  if (backstop) s.fanotify_unresolved = backstop->unresolved();
  for (const jobs::Job* j : jobs->live())
    for (const auto& [num, dev] : j->devices)
      s.job_devices.push_back({jobs::job_id_string(j->id), jobs::run_of(*j), dev.path, decode::to_string(dev.cls)});
  return s;
}

}  // namespace fts::app
