// dataset-drift: a file a job reads does not match the policy's manifest, or
// its content changes during the run. Fed by the file hashes of hash::Tracker
// (kind file_hash), which carry the manifest's verdict and, when a later hash
// of a file differs from the job's first, that first hash.
#include "rules/rules.h"

namespace fts::rules {
namespace {

std::string job_of(const jobs::Job& j) { return "job " + j.name + " (" + jobs::job_id_string(j.id) + ")"; }

std::string reader(const Input& in) {
  const decode::Header& h = decode::header(in.record);
  std::string exe = in.process && !in.process->exe.empty() ? in.process->exe : "?";
  return exe + " (pid " + std::to_string(h.task.tgid) + ")";
}

std::string short_hash(const std::string& h) { return h.size() > 16 ? h.substr(0, 16) + "…" : h; }

class DatasetDrift : public Rule {
 public:
  const char* id() const override { return "dataset-drift"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kFileHash}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& h = std::get<decode::FileHash>(in.record);
    if (!in.job || h.sha256.empty()) return;
    std::string what = h.path + " (sha256 " + h.sha256 + ", " + std::to_string(h.size) + " bytes, inode " +
                       std::to_string(h.ino) + ")";
    std::string manifest_says;
    if (h.manifest_verdict == "mismatch")
      manifest_says = "; the manifest " + h.manifest + " says sha256 " + h.manifest_sha256;
    // The object carries the content: each different content is its own alert.
    std::string object = h.path + " sha256:" + h.sha256;
    if (!h.first_sha256.empty() && h.first_sha256 != h.sha256) {
      out->push_back({id(), "high",
                      "content of " + what + " changed during " + job_of(*in.job) + ": sha256 " + h.first_sha256 +
                          " when " + reader(in) + " first read it" + manifest_says,
                      object, nullptr, true});
      return;
    }
    if (h.manifest_verdict == "mismatch") {
      out->push_back({id(), "high",
                      job_of(*in.job) + " read " + what + ", whose content does not match its manifest" +
                          manifest_says + " (" + short_hash(h.manifest_sha256) + " ≠ " + short_hash(h.sha256) +
                          "): " + reader(in),
                      object, nullptr, true});
      return;
    }
    if (h.manifest_verdict == "unlisted") {
      out->push_back({id(), "medium",
                      job_of(*in.job) + " read " + what + ", which its manifest " + h.manifest +
                          " does not list: " + reader(in),
                      object, nullptr, true});
    }
  }
};

}  // namespace

std::unique_ptr<Rule> make_dataset_drift() { return std::make_unique<DatasetDrift>(); }

}  // namespace fts::rules
