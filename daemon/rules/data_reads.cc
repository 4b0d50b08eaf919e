#include "rules/data_reads.h"

#include <algorithm>

namespace fts::rules {

bool volume_matches(uint64_t bytes, uint64_t size) {
  if (size < kMinMatchSize) return false;
  return bytes >= size - size / 10 && bytes <= size + size / 10 * 4 + kMatchSlack;
}

DataReads::Job& DataReads::job(uint64_t id) {
  if (jobs_.size() >= kJobs && !jobs_.count(id)) jobs_.clear();  // a long-lived daemon: forget, never grow
  return jobs_[id];
}

void DataReads::on_read(uint64_t job_id, const std::string& path) {
  Job& j = job(job_id);
  if (j.first.empty()) j.first = path;
}

void DataReads::on_hash(const decode::FileHash& h) {
  if (!h.hdr.job_id || h.sha256.empty()) return;
  bool data = (h.classes & (decode::cls::kTraining | decode::cls::kProtected)) && h.reason == "read";
  bool output = (h.classes & decode::cls::kOutputs) && h.reason != "read";
  if (!data && !output) return;
  Job& j = job(h.hdr.job_id);
  auto& files = data ? j.data : j.outputs;
  if (files.size() >= kPerJob && !files.count(h.path)) return;
  files[h.path] = DataFile{h.path, h.size, h.sha256};
}

std::string DataReads::first(uint64_t job_id) const {
  auto it = jobs_.find(job_id);
  return it == jobs_.end() ? "" : it->second.first;
}

void DataReads::recall_first(uint64_t job_id, const std::string& path) {
  if (!path.empty()) job(job_id).first = path;
}

bool DataReads::explained(const Job& j, uint64_t bytes, const DataFile& f) const {
  for (const auto& [path, o] : j.outputs)
    if (volume_matches(bytes, o.size) && o.sha256 != f.sha256) return true;
  return false;
}

UploadMatch DataReads::match(uint64_t job_id, uint64_t bytes, uint64_t limit) const {
  UploadMatch m;
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || !bytes) return m;
  const Job& j = it->second;
  m.over_limit = limit && bytes > limit;
  for (const auto& [path, f] : j.data) {
    bool fits = m.over_limit && f.size >= kMinMatchSize && f.size <= bytes;
    if ((volume_matches(bytes, f.size) || fits) && !explained(j, bytes, f)) m.files.push_back(f);
  }
  auto distance = [bytes](const DataFile& f) { return f.size > bytes ? f.size - bytes : bytes - f.size; };
  std::sort(m.files.begin(), m.files.end(),
            [&](const DataFile& a, const DataFile& b) { return distance(a) < distance(b); });
  if (m.files.size() > kMaxMatched) m.files.resize(kMaxMatched);
  return m;
}

}  // namespace fts::rules
