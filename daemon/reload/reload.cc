#include "reload/reload.h"

#include <google/protobuf/util/message_differencer.h>
#include <spdlog/spdlog.h>

namespace fts::reload {
namespace {

using google::protobuf::util::MessageDifferencer;

std::vector<std::string> strings(const std::vector<config::Diagnostic>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds) out.push_back(d.str());
  return out;
}

std::vector<std::string> names(const policy::PolicySet& set) {
  std::vector<std::string> out;
  for (const auto& p : set.all()) out.push_back(p.spec.name());
  return out;
}

std::vector<std::string> files(const policy::PolicySet& set) {
  std::vector<std::string> out;
  for (const auto& p : set.all()) out.push_back(p.spec.name() + " " + p.file + " sha256:" + p.sha256);
  return out;
}

}  // namespace

std::vector<std::string> needs_restart(const v1::DaemonConfig& running, const v1::DaemonConfig& next) {
  std::vector<std::string> out;
  auto check = [&](const char* key, const auto& a, const auto& b) {
    if (!MessageDifferencer::Equals(a, b))
      out.push_back(std::string(key) + ": changed; needs restart (the running daemon keeps the old setting)");
  };
  auto check_str = [&](const char* key, const std::string& a, const std::string& b) {
    if (a != b)
      out.push_back(std::string(key) + ": changed to '" + b + "'; needs restart (the running daemon keeps '" + a + "')");
  };
  check_str("host", running.host(), next.host());
  check_str("state_dir", running.state_dir(), next.state_dir());
  check("control", running.control(), next.control());
  check("sensor", running.sensor(), next.sensor());
  if (running.outputs_size() != next.outputs_size()) {
    out.push_back("outputs: changed; needs restart (the running daemon keeps the old setting)");
  } else {
    for (int i = 0; i < running.outputs_size(); ++i)
      if (!MessageDifferencer::Equals(running.outputs(i), next.outputs(i))) {
        out.push_back("outputs: changed; needs restart (the running daemon keeps the old setting)");
        break;
      }
  }
  check("journal", running.journal(), next.journal());
  check("metrics", running.metrics(), next.metrics());
  check("devices", running.devices(), next.devices());
  return out;
}

Outcome Reloader::reload(const std::string& config_file, const v1::DaemonConfig& running,
                         std::vector<jobs::JobChange>* changes) {
  Outcome out;
  const auto current = parts_.jobs->policies_ptr();
  out.policies = names(*current);
  out.policy_files = files(*current);
  auto refuse = [&](std::string why) {
    if (!why.empty()) out.errors.push_back(std::move(why));
    parts_.egress->drop_staged();
    spdlog::error("reload refused; the running policies are unchanged ({} error(s)):", out.errors.size());
    for (const auto& e : out.errors) spdlog::error("  {}", e);
    return out;
  };

  // 1. Everything from disk, every check.
  config::Loaded next = config::load(config_file);
  out.warnings = strings(next.warnings);
  if (!next.ok()) {
    out.errors = strings(next.errors);
    return refuse("");
  }
  for (auto& w : needs_restart(running, next.daemon)) out.warnings.push_back(config_file + ": " + w);

  // 2. The new set: fresh kernel ids, and the old policies that running jobs
  //    keep because their name is gone.
  auto set = std::make_shared<policy::PolicySet>(*next.policies);
  for (auto& p : parts_.jobs->orphaned_policies(*set)) set->retain(std::move(p));
  std::vector<uint32_t> taken;
  for (const policy::Policy* p : current->in_force()) taken.push_back(p->index);
  for (const auto& p : set->retained()) taken.push_back(p->index);
  if (!set->renumber(taken))
    return refuse("too many policies in force (" + std::to_string(set->all().size()) + " new, " +
                  std::to_string(taken.size()) + " running or kept for running jobs; the kernel holds " +
                  std::to_string(policy::kMaxKernelIds) + ")");

  for (const policy::Policy* p : current->in_force())
    if (const policy::Policy* now = set->find(p->spec.name())) set->alias(p->index, now->index);

  // 3 and 4: the kernel-side content compiled, then switched to.
  if (auto st = install(set, changes, &out.notes); !st) return refuse(st.error());
  std::shared_ptr<const policy::PolicySet> installed = set;

  ++generation_;
  out.applied = true;
  out.daemon = next.daemon;
  out.policies = names(*installed);
  out.policy_files = files(*installed);
  std::string list;
  for (const auto& n : out.policies) list += (list.empty() ? "" : ", ") + n;
  spdlog::info("reload: generation {} in force: {} policies ({}), {} kept for running jobs", generation_,
               installed->all().size(), list.empty() ? "none" : list, installed->retained().size());
  for (const auto& w : out.warnings) spdlog::warn("reload: {}", w);
  for (const auto& n : out.notes) spdlog::info("reload: {}", n);
  return out;
}

Status Reloader::install(std::shared_ptr<const policy::PolicySet> set, std::vector<jobs::JobChange>* changes,
                         std::vector<std::string>* notes) {
  const auto current = parts_.jobs->policies_ptr();
  // 3. The kernel-side content, compiled but not written.
  if (auto st = parts_.egress->prepare(*set); !st) return make_error("network.egress: " + st.error());

  // 4. Switch. The new ids' egress entries go in next to the old ones (no
  //    task carries a new id yet), then the watched data, then the tasks.
  if (auto st = parts_.egress->install_staged(); !st) return make_error("kernel egress map: " + st.error());
  auto watched = parts_.watcher->apply(watch::patterns_of(*set));
  if (!watched) {
    (void)parts_.watcher->apply(watch::patterns_of(*current));  // back to what runs
    return make_error("kernel watched-inode map: " + watched.error());
  }
  watched_ = *watched;
  if (parts_.writers) parts_.writers->apply(*set);
  parts_.jobs->rebind(std::move(set), changes, notes);
  // Every task carries a new id (or a retained one): the old ids can go.
  if (auto st = parts_.egress->switch_to_staged(); !st)
    spdlog::error("reload: dropping the old egress entries: {}", st.error());
  return {};
}

}  // namespace fts::reload
