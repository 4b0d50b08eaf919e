// ftsentineld --config FILE [--check]
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "app/daemon.h"
#include "common/utf8.h"
#include "config/config.h"

namespace {

int usage() {
  fprintf(stderr, "usage: ftsentineld [--config FILE] [--check]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_file = "/etc/ftsentinel/ftsentinel.yaml";
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config_file = argv[++i];
    else if (a.rfind("--config=", 0) == 0) config_file = a.substr(9);
    else if (a == "--check") check = true;
    else if (a == "--version") {
      printf("ftsentineld %s\n", FTS_VERSION);
      return 0;
    } else return usage();
  }
  // Logs go to stderr (journald); stdout carries events.
  spdlog::set_default_logger(spdlog::stderr_color_mt("ftsentineld"));
  fts::route_protobuf_log();

  fts::config::Loaded cfg = fts::config::load(config_file);
  for (const auto& w : cfg.warnings) fprintf(stderr, "warning: %s\n", w.str().c_str());
  for (const auto& e : cfg.errors) fprintf(stderr, "%s\n", e.str().c_str());
  if (!cfg.ok()) {
    fprintf(stderr, "ftsentineld: %zu error(s) in the configuration\n", cfg.errors.size());
    return 1;
  }
  if (check) {
    fprintf(stderr, "%s: ok (%zu policies)\n", config_file.c_str(), cfg.policies->all().size());
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(cfg.daemon.log().level()));
  return fts::app::run_daemon({std::move(cfg)});
}
