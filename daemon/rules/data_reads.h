#pragma once
// What a job read of its data, shared by the rules about data leaving:
// exfil-chain (the first protected, training or sensitive file each job read)
// and exfil-to-allowed (the sizes and hashes of the protected and training
// files it read, and of the outputs it wrote, from the hash stage's file_hash
// records), plus the one test of an upload against them that egress-volume
// asks too, so one upload does not raise both.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "decode/records.h"

namespace fts::rules {

struct DataFile {
  std::string path;
  uint64_t size = 0;
  std::string sha256;
};

// An upload's volume "approaches" a file's size when it is within
// [size - 10%, size + 40% + 64 KiB]: below, a partial or compressed copy is
// not claimed; above, TLS records (~0.2%), HTTP headers and multipart
// framing, and base64 (+33%) still match. Files under 64 KiB match too many
// uploads (metrics, small JSON posts) to name one: they never match.
constexpr uint64_t kMinMatchSize = 64 << 10;
constexpr uint64_t kMatchSlack = 64 << 10;
bool volume_matches(uint64_t bytes, uint64_t size);

struct UploadMatch {
  std::vector<DataFile> files;  // closest first, at most kMaxMatched
  bool over_limit = false;      // the bytes are over the policy's limit (files: what the upload could hold)
  bool empty() const { return files.empty(); }
};

class DataReads {
 public:
  static constexpr size_t kMaxMatched = 8;
  static constexpr size_t kPerJob = 4096;  // files of each kind kept per job
  static constexpr size_t kJobs = 10000;   // jobs kept (bounded: jobs come and go)

  // A job process opened a protected, training or sensitive file for reading.
  void on_read(uint64_t job, const std::string& path);
  // A file's content known (hash stage): a read of protected or training
  // data gives its size; a write to outputs, the output's.
  void on_hash(const decode::FileHash& h);
  // The first data file the job read ("" when none).
  std::string first(uint64_t job) const;
  void recall_first(uint64_t job, const std::string& path);
  // Which data the job read `bytes` sent to one allowed destination may be:
  // files whose size the bytes approach (volume_matches) or, over `limit`
  // (0: none), every protected or training file it read that fits in them.
  // A file is not named when an output of the job has a size the bytes
  // approach too and is not a copy of it (another hash): the job uploading
  // its checkpoint, the same size as the base model it read, is not
  // exfiltration.
  UploadMatch match(uint64_t job, uint64_t bytes, uint64_t limit) const;

 private:
  struct Job {
    std::string first;
    std::map<std::string, DataFile> data;     // path -> protected/training file read, sized
    std::map<std::string, DataFile> outputs;  // path -> output written, sized
  };
  Job& job(uint64_t id);
  bool explained(const Job& j, uint64_t bytes, const DataFile& f) const;
  std::map<uint64_t, Job> jobs_;
};

}  // namespace fts::rules
