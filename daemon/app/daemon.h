#pragma once
// The composition root: builds the modules from a config and runs the event
// loop. Nothing else depends on it.
#include <memory>
#include <string>

#include "config/config.h"

namespace fts::app {

struct DaemonOptions {
  config::Loaded config;
};

// Runs until SIGINT/SIGTERM; returns the process exit code.
int run_daemon(DaemonOptions opts);

}  // namespace fts::app
