// exfil-to-allowed: data leaving through a destination the policy allows (the
// object store, the tracking server), which egress-not-allowed and
// exfil-chain cannot see by design. Per job and allowed destination address,
// the bytes its flows sent so far (the egress stage's totals, as flow and
// flow_update records carry them) are held against the protected and
// training files the job read (DataReads: their sizes from the hash stage):
// bytes that approach a file's size, or bytes over the policy's
// max_bytes_per_destination after such reads, raise it once per (job,
// destination), naming the files (Alert.matched_files) and the destination
// by its TLS server name (network.sni) when the flow sent one.
//
// The size of a file is known when its hash is, which may be after the
// upload's flow closed: a finished hash then checks the job's uploads again.
//
// egress-volume says "over the limit" for any destination; for an allowed one
// whose bytes this rule matches to data it stays silent (DataReads::match is
// the one test both ask), so one upload raises one alert.
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "common/address.h"
#include "render/fields.h"
#include "rules/data_reads.h"
#include "rules/rules.h"

namespace fts::rules {
namespace {

// What the job sent to one allowed address, as its latest flow said it.
struct Upload {
  uint64_t bytes = 0;
  uint64_t limit = 0;
  v1::NetworkRef network;  // as the alert shows it
  bool raised = false;
};

std::string files_text(const UploadMatch& m) {
  std::string out;
  for (const auto& f : m.files) out += (out.empty() ? "" : ", ") + f.path + " (" + std::to_string(f.size) + " bytes)";
  return out;
}

class ExfilToAllowed : public Rule {
 public:
  explicit ExfilToAllowed(std::shared_ptr<DataReads> reads) : reads_(std::move(reads)) {}
  const char* id() const override { return "exfil-to-allowed"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kNet, decode::Kind::kFileHash}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    if (!in.job) return;
    if (const auto* h = std::get_if<decode::FileHash>(&in.record)) {
      reads_->on_hash(*h);  // the one feed of sizes (exfil-chain feeds the reads)
      for (auto& [key, up] : uploads_)
        if (key.first == in.job->id && !up.raised) check(in, key.second, up, out);
      return;
    }
    const auto& n = std::get<decode::Net>(in.record);
    bool flow = n.op == decode::NetOp::kFlow || n.op == decode::NetOp::kFlowUpdate;
    if (!flow || !n.allowed || n.inbound || !in.net_total_bytes) return;
    if (uploads_.size() > 100000) uploads_.clear();  // bounded: jobs come and go
    std::string dest = address_string(n.daddr);
    Upload& up = uploads_[{in.job->id, dest}];
    up.bytes = in.net_total_bytes;
    up.limit = in.net_max_bytes;
    up.network.set_protocol(render::protocol_name(n.protocol));
    up.network.set_daddr(dest);
    up.network.set_dport(n.dport);
    up.network.set_bytes(up.bytes);
    up.network.set_total_bytes(up.bytes);
    if (!in.net_dns.empty()) up.network.set_dns(in.net_dns);
    if (!in.net_sni.empty()) up.network.set_sni(in.net_sni);
    if (!up.raised) check(in, dest, up, out);
  }

 private:
  void check(const Input& in, const std::string& dest, Upload& up, std::vector<Finding>* out) {
    UploadMatch m = reads_->match(in.job->id, up.bytes, up.limit);
    if (m.empty()) return;
    up.raised = true;
    const v1::NetworkRef& nr = up.network;
    std::string name = !nr.sni().empty() ? nr.sni() : !nr.dns().empty() ? nr.dns() : dest;
    std::string where = name + " (" + dest + ":" + std::to_string(nr.dport()) + ")";
    std::string why = m.over_limit && !volume_matches(up.bytes, m.files.front().size)
                          ? ", over its limit of " + std::to_string(up.limit) + ", after reading "
                          : ", the size of data it read: ";
    Finding f{id(), "high",
              "job " + in.job->name + " (" + jobs::job_id_string(in.job->id) + ") sent " + std::to_string(up.bytes) +
                  " bytes to allowed destination " + where + why + files_text(m),
              dest};
    v1::Alert extra;
    *extra.mutable_network() = nr;
    extra.mutable_file()->set_path(m.files.front().path);
    extra.mutable_file()->set_access("read");
    for (const auto& d : m.files) {
      auto* mf = extra.add_matched_files();
      mf->set_path(d.path);
      mf->set_size(d.size);
      mf->set_sha256(d.sha256);
    }
    f.extra = std::move(extra);
    out->push_back(std::move(f));
  }

  std::shared_ptr<DataReads> reads_;
  std::map<std::pair<uint64_t, std::string>, Upload> uploads_;  // (job, address) -> bytes sent there
};

}  // namespace

std::unique_ptr<Rule> make_exfil_to_allowed(std::shared_ptr<DataReads> reads) {
  return std::make_unique<ExfilToAllowed>(std::move(reads));
}

}  // namespace fts::rules
