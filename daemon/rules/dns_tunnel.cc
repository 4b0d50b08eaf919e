// dns-tunnel (T1048.003, T1071.004): see dns_tunnel.h for what it counts.
#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <unordered_map>

#include "rules/dns_tunnel.h"

namespace fts::rules::dns_tunnel {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class DnsTunnel : public Rule {
 public:
  explicit DnsTunnel(Thresholds t) : t_(t) {}
  const char* id() const override { return "dns-tunnel"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kDns}; }

  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& d = std::get<decode::Dns>(in.record);
    if (!in.job || d.name.empty()) return;
    std::string name = lower(d.name);
    std::string parent = parent_domain(name);
    if (parent.empty() || parent == name) return;
    auto& job = jobs_[in.job->id];
    if (job.size() > kMaxParents) job.clear();  // bounded: a job asking under this many parents is odd anyway
    Parent& p = job[parent];
    if (p.fired) return;
    uint64_t now = d.hdr.ts_ns;
    prune(p, now);
    auto [it, fresh] = p.names.try_emplace(name, Seen{now, looks_encoded(name, parent, t_)});
    it->second.last = now;
    if (fresh) {
      if (it->second.encoded) {
        ++p.encoded;
        p.example = d.name;
      }
      if (p.names.size() > kMaxNames) p.names.clear(), p.encoded = 0;  // bounded
    }
    bool by_look = p.encoded >= t_.suspicious_names;
    bool by_count = p.names.size() >= t_.unique_names;
    if (!by_look && !by_count) return;
    p.fired = true;
    char what[160];
    if (by_look)
      std::snprintf(what, sizeof(what), "%zu unique names under %s that look like encoded data within %llu s", p.encoded,
                    parent.c_str(), static_cast<unsigned long long>(t_.window_ns / 1'000'000'000));
    else
      std::snprintf(what, sizeof(what), "%zu unique names under %s within %llu s", p.names.size(), parent.c_str(),
                    static_cast<unsigned long long>(t_.window_ns / 1'000'000'000));
    std::string exe = in.process && !in.process->exe.empty() ? in.process->exe : "?";
    out->push_back({id(), "high",
                    "job " + in.job->name + " (" + jobs::job_id_string(in.job->id) + ") asked DNS for " + what +
                        " (e.g. " + (p.example.empty() ? d.name : p.example) + ") through " +
                        address_string(d.daddr) + ": " + exe + " (pid " + std::to_string(d.hdr.task.tgid) + ")",
                    parent});
  }

 private:
  static constexpr size_t kMaxParents = 1024;
  static constexpr size_t kMaxNames = 4096;
  struct Seen {
    uint64_t last = 0;
    bool encoded = false;
  };
  struct Parent {
    std::unordered_map<std::string, Seen> names;
    size_t encoded = 0;
    std::string example;
    uint64_t pruned = 0;
    bool fired = false;
  };

  void prune(Parent& p, uint64_t now) {
    if (now - p.pruned < t_.window_ns / 8) return;  // amortized
    p.pruned = now;
    std::erase_if(p.names, [&](const auto& kv) {
      bool old = now > kv.second.last && now - kv.second.last > t_.window_ns;
      if (old && kv.second.encoded) --p.encoded;
      return old;
    });
  }

  Thresholds t_;
  std::map<uint64_t, std::map<std::string, Parent>> jobs_;  // job -> parent domain -> what it asked
};

}  // namespace

std::string parent_domain(std::string_view name) {
  std::string_view n = name;
  if (!n.empty() && n.back() == '.') n.remove_suffix(1);
  std::vector<std::string_view> labels;
  size_t start = 0;
  while (start <= n.size()) {
    size_t dot = n.find('.', start);
    if (dot == std::string_view::npos) dot = n.size();
    labels.push_back(n.substr(start, dot - start));
    start = dot + 1;
  }
  size_t keep = 2;
  // example.co.uk, example.com.au: a two-letter TLD under a short second level
  if (labels.size() >= 3 && labels.back().size() == 2 && labels[labels.size() - 2].size() <= 3) keep = 3;
  if (labels.size() <= keep) return std::string(n);
  size_t from = 0;
  for (size_t i = 0; i < labels.size() - keep; ++i) from += labels[i].size() + 1;
  return lower(n.substr(from));
}

double entropy(std::string_view s) {
  if (s.empty()) return 0;
  std::array<size_t, 256> count{};
  for (char c : s) ++count[static_cast<unsigned char>(std::tolower(static_cast<unsigned char>(c)))];
  double h = 0;
  for (size_t c : count) {
    if (!c) continue;
    double p = static_cast<double>(c) / static_cast<double>(s.size());
    h -= p * std::log2(p);
  }
  return h;
}

bool looks_encoded(std::string_view name, std::string_view parent, const Thresholds& t) {
  if (name.size() <= parent.size()) return false;
  std::string_view sub = name.substr(0, name.size() - parent.size());
  if (!sub.empty() && sub.back() == '.') sub.remove_suffix(1);
  if (sub.size() >= t.long_name) return true;
  size_t start = 0;
  while (start < sub.size()) {
    size_t dot = sub.find('.', start);
    if (dot == std::string_view::npos) dot = sub.size();
    std::string_view label = sub.substr(start, dot - start);
    bool digit = std::any_of(label.begin(), label.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (label.size() >= t.min_label && digit && entropy(label) >= t.min_entropy) return true;
    start = dot + 1;
  }
  return false;
}

std::unique_ptr<Rule> make(Thresholds t) { return std::make_unique<DnsTunnel>(t); }

}  // namespace fts::rules::dns_tunnel
