#pragma once
// The daemon's periodic duties, each a named task with its period in seconds.
#include "app/inputs.h"
#include "app/parts.h"
#include "common/scheduler.h"

namespace fts::app {

void schedule_duties(Scheduler& s, Parts& p, Inputs& in);

}  // namespace fts::app
