#pragma once
// What a file record is to the job it belongs to. The kernel's watched map is
// one map for every job, so the classes it sets are the union of all loaded
// policies' (a slurm job's `/tmp/**` outputs would show on an llm-finetune
// job's /tmp file); a job's record is classed again here by its own policy.
// It also says what is the job's *code*: the program it runs is not data.
#include <cstdint>
#include <string>

#include <google/protobuf/repeated_ptr_field.h>

#include "policy/policy.h"
#include "decode/records.h"
#include "state/process_table.h"

namespace fts::rules {

// A user-space class beside the kernel's decode::cls bits: the job's own
// program (scripts, package tree, configs). Reported, never an unapproved read.
constexpr uint32_t kCodeClass = decode::cls::kCode;

// A path is in a list of globs; "/dir/**" also names "/dir" itself.
bool matches(const google::protobuf::RepeatedPtrField<std::string>& globs, const std::string& path);

// In the built-in base list or the policy's data.base.
bool in_base(const policy::Policy* p, const std::string& path);

// The classes `policy` gives `path` (training, outputs, protected, sensitive,
// base; a data.caches file is training and cache); `kernel` contributes only
// what no policy decides (the preload list).
uint32_t policy_classes(const policy::Policy& policy, const std::string& path, uint32_t kernel);

// A name that is code or configuration rather than a dataset: .py, .pyc,
// .so, .sh, .yaml/.yml, .json, .toml, .cfg, .ini (never .jsonl, .csv, …).
// Derived code counts a config only up to 1 MiB (classify): a large .json is a dataset.
bool code_file_name(const std::string& path);

// The script a process runs: the file it exec'd when that is not its binary
// (`#!` scripts: torchrun), else a Python interpreter's script argument
// (`python3 -u train.py`), absolute against its working directory. "" for
// `python3 -c`/`-m` and for everything else.
std::string launched_script(const state::Process& p);

// Is `path` the job's code? data.code globs; else, from what `proc` and its
// ancestors in the same job launched: the launched script itself, code files
// under the script's directory tree, code files under their working
// directories (except "/").
bool is_code(const policy::Policy& policy, const state::ProcessTable& procs, const state::Process* proc,
             uint64_t job_id, const std::string& path);

// The classes of a job's file record named `path`: its policy's, plus
// kCodeClass for a read of the job's code that no data class claims.
uint32_t classify(const decode::File& f, const std::string& path, const policy::Policy& policy,
                  const state::ProcessTable& procs, const state::Process* proc, uint64_t job_id);
// The same, given policy_classes(policy, path, 0) already worked out (the
// pipeline keeps them per policy and path: glob matching is the cost).
uint32_t classify_with(uint32_t policy_cls, const decode::File& f, const std::string& path,
                       const policy::Policy& policy, const state::ProcessTable& procs, const state::Process* proc,
                       uint64_t job_id);

}  // namespace fts::rules
