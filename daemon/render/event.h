#pragma once
// Records as the Events of the output schema (event.proto): one function per
// part, each field through render/fields.h, the process through ProcessViews.
#include <cstdint>
#include <memory>
#include <string>

#include "common/v1.h"
#include "decode/records.h"
#include "ftsentinel/v1/event.pb.h"
#include "jobs/jobs.h"
#include "render/process_view.h"

namespace fts::render {

// What earlier stages found out about a record, beside the record itself.
struct Facts {
  const state::Process* process = nullptr;  // the acting process, when known
  const jobs::Job* job = nullptr;           // the record's job (an access: the job reached into)
  std::string file_path;                    // file records: the canonical path
  uint64_t total_bytes = 0;                 // flows: the job's bytes to this destination so far
  uint64_t max_bytes = 0;                   // flows: the policy's limit per destination (0: none)
  std::string dns_name;                     // network: the name the destination was resolved from
  std::string sni;                          // flows: the server name of the socket's TLS ClientHello
};

class EventRenderer {
 public:
  EventRenderer(std::string host, ProcessViews* views, const state::ProcessTable* procs, const jobs::JobManager* jobs)
      : host_(std::move(host)), views_(views), procs_(procs), jobs_(jobs) {}

  // Fills `out` (cleared first, its memory reused) for record `r`; `job`
  // overrides facts.job (an access is about the job reached into). Returns
  // true when out's process is the cached view itself, not a copy: the
  // caller must release it (unsafe_arena_release_process) before `out` is
  // cleared or freed, and not keep `out` past the next record.
  bool record(const decode::Record& r, const Facts& facts, const jobs::Job* job, uint64_t id, v1::Event* out);
  // The view of the process `out` was rendered with (null: none known).
  const v1::Process* last_process_view() const { return last_view_; }
  // job_start / job_end.
  void job_change(const jobs::JobChange& c, uint64_t id, v1::Event* out);

 private:
  void base(uint64_t id, uint64_t wall_ns, const char* kind, v1::Event* e);
  void recycle(v1::Event* e);
  template <typename M>
  M* reuse(std::unique_ptr<M>& spare, bool has, void (v1::Event::*adopt)(M*), M* (v1::Event::*mut)(), v1::Event* e);
  v1::Process* process_of(v1::Event* e);
  v1::FileInfo* file_of(v1::Event* e);
  v1::NetworkInfo* network_of(v1::Event* e);
  void set_job(const jobs::Job& j, v1::Event* e);
  bool process(const decode::Record& r, const Facts& facts, v1::Event* e);
  void detail(const decode::Record& r, const Facts& facts, v1::Event* e);
  void access(const decode::ProcessAccess& a, v1::ProcessAccess* out);

  // An Event's Clear() frees its submessages and their strings; the renderer
  // keeps them for the next event, so a warm pipeline renders without malloc.
  struct Spares {
    std::unique_ptr<v1::Process> process;
    std::unique_ptr<v1::JobRef> job;
    std::unique_ptr<v1::FileInfo> file;
    std::unique_ptr<v1::NetworkInfo> network;
  } spare_;
  uint64_t job_ref_id_ = 0;  // the last job's id string, built once
  v1::JobRef job_ref_;
  const v1::Process* last_view_ = nullptr;
  std::string host_;
  ProcessViews* views_;
  const state::ProcessTable* procs_;
  const jobs::JobManager* jobs_;
};

void job_ref(const jobs::Job& j, v1::JobRef* out);
// The JSON-ready view of a job (control replies and job_start/job_end).
void job_info(const jobs::Job& j, v1::Job* out);

}  // namespace fts::render
