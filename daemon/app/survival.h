#pragma once
// A restart keeps every job (package upgrade, watchdog, OOM kill): the live
// jobs and what the rules remember about them are saved under the state dir
// when they change (checked every second, at each sync barrier and at stop)
// and put back at start, so a job started before a restart is still the same
// job after it, with its policy, id and read history.
#include <string>

#include "app/parts.h"

namespace fts::app {

std::string saved_jobs_path(const Parts& p);
// At start, once the policies are in: the saved jobs that still run are jobs again.
void restore_jobs(Parts& p);
// Writes the registry when it differs from what was last written.
void save_jobs(Parts& p);

}  // namespace fts::app
