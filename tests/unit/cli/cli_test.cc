// The real `ftsentinel` binary: `run` never starts the command unwatched, and
// when the daemon accepts the job the exit status is the command's.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/control_fixture.h"
#include "support/fixtures.h"

extern char** environ;

namespace fts {
namespace {

using fts::testing::FakeDaemon;
using fts::testing::TempDir;

struct CliRun {
  int status = -1;  // exit status, or -1 if killed / did not finish
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs FTS_CLI_BIN with `args`; the environment is ours minus
// FTSENTINEL_SOCKET, plus `env`. Killed after 10 s.
CliRun run_cli(const TempDir& dir, const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv_s = {FTS_CLI_BIN};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e)
    if (std::string(*e).rfind("FTSENTINEL_SOCKET=", 0) != 0) env_s.push_back(*e);
  env_s.insert(env_s.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  std::string out = dir / "cli.out", err = dir / "cli.err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  CliRun r;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << FTS_CLI_BIN << ": " << strerror(rc);
    return r;
  }
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "ftsentinel did not finish in 10 s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

v1::Response refuse_unknown_policy(const v1::Request& req, const control::Peer&) {
  v1::Response r;
  r.set_ok(false);
  r.set_error("unknown policy '" + req.register_job().policy() + "' (loaded: llm-finetune)");
  return r;
}

v1::Response accept_job(const v1::Request& req, const control::Peer&) {
  v1::Response r;
  if (req.body_case() == v1::Request::kRegisterJob) {
    r.set_ok(true);
    r.mutable_register_job()->set_job_id("00000000deadbeef");
  } else if (req.body_case() == v1::Request::kStatus) {
    r.set_ok(true);
    r.mutable_status()->set_version("9.9.9");
    r.mutable_status()->set_pid(77);
    r.mutable_status()->add_policies("llm-finetune");
  } else {
    r.set_ok(false);
    r.set_error("not here");
  }
  return r;
}

class CliTest : public ::testing::Test {
 protected:
  std::string marker() const { return dir_ / "MARKER"; }
  bool start(control::Handler h) {
    control::ServerOptions o;
    o.path = dir_ / "control.sock";
    o.read_timeout = std::chrono::milliseconds(2000);
    return daemon_.start(o, std::move(h));
  }
  TempDir dir_;
  FakeDaemon daemon_;
};

TEST_F(CliTest, NoDaemonMeansTheCommandIsNotRun) {
  CliRun r = run_cli(dir_, {"--socket", dir_ / "nonexistent.sock", "run", "--policy", "p", "--", "touch", marker()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 2) << "not a usage error";
  EXPECT_NE(r.err.find("not running"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not starting touch"), std::string::npos) << r.err;
  EXPECT_FALSE(fts::testing::exists(marker())) << "the command ran unwatched";
}

TEST_F(CliTest, NoDaemonAtTheEnvironmentSocketEither) {
  CliRun r = run_cli(dir_, {"run", "--policy", "p", "--", "touch", marker()},
                  {"FTSENTINEL_SOCKET=" + (dir_ / "nonexistent.sock")});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(dir_ / "nonexistent.sock"), std::string::npos) << r.err;
  EXPECT_FALSE(fts::testing::exists(marker()));
}

TEST_F(CliTest, RefusedJobMeansTheCommandIsNotRun) {
  ASSERT_TRUE(start(refuse_unknown_policy)) << daemon_.error();
  CliRun r = run_cli(dir_, {"--socket", daemon_.path(), "run", "--policy", "p", "--", "touch", marker()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("unknown policy 'p'"), std::string::npos) << r.err;
  EXPECT_FALSE(fts::testing::exists(marker())) << "the command ran although the daemon refused the job";
  // The daemon was asked properly.
  auto reqs = daemon_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  ASSERT_EQ(reqs[0].body_case(), v1::Request::kRegisterJob);
  EXPECT_EQ(reqs[0].register_job().policy(), "p");
  EXPECT_EQ(reqs[0].register_job().argv_size(), 2);
  EXPECT_EQ(reqs[0].register_job().argv(0), "touch");
  EXPECT_EQ(reqs[0].register_job().argv(1), marker());
}

TEST_F(CliTest, AcceptedJobRunsTheCommandAndKeepsItsExitStatus) {
  ASSERT_TRUE(start(accept_job)) << daemon_.error();
  CliRun r = run_cli(dir_, {"--socket", daemon_.path(), "run", "--policy", "llm-finetune", "--name", "nightly", "--",
                         "sh", "-c", "touch \"$1\"; exit 7", "sh", marker()});
  EXPECT_EQ(r.status, 7) << r.err;
  EXPECT_TRUE(fts::testing::exists(marker())) << "an accepted job's command must run";
  EXPECT_NE(r.err.find("job 00000000deadbeef"), std::string::npos) << r.err;
  auto reqs = daemon_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].register_job().name(), "nightly");
  EXPECT_EQ(reqs[0].register_job().policy(), "llm-finetune");
  // The job is registered by the process that then becomes the command.
  EXPECT_GT(daemon_.last_peer().pid, 0);
}

TEST_F(CliTest, AcceptedJobExitZero) {
  ASSERT_TRUE(start(accept_job)) << daemon_.error();
  CliRun r = run_cli(dir_, {"--socket=" + daemon_.path(), "run", "--policy", "llm-finetune", "--", "true"});
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(CliTest, AcceptedJobWithMissingCommandIs127) {
  ASSERT_TRUE(start(accept_job)) << daemon_.error();
  CliRun r = run_cli(dir_, {"--socket", daemon_.path(), "run", "--policy", "llm-finetune", "--",
                         "/nonexistent/fts-no-such-command"});
  EXPECT_EQ(r.status, 127);
  EXPECT_NE(r.err.find("cannot execute"), std::string::npos) << r.err;
}

TEST_F(CliTest, StatusFromTheEnvironmentSocket) {
  ASSERT_TRUE(start(accept_job)) << daemon_.error();
  CliRun r = run_cli(dir_, {"status"}, {"FTSENTINEL_SOCKET=" + daemon_.path()});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("ftsentineld 9.9.9, pid 77"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("policies:     llm-finetune"), std::string::npos) << r.out;
}

TEST_F(CliTest, StatusJson) {
  ASSERT_TRUE(start(accept_job)) << daemon_.error();
  CliRun r = run_cli(dir_, {"--socket", daemon_.path(), "status", "--json"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\"version\": \"9.9.9\""), std::string::npos) << r.out;
}

TEST_F(CliTest, DaemonErrorOnJobsIsReported) {
  ASSERT_TRUE(start(accept_job)) << daemon_.error();
  CliRun r = run_cli(dir_, {"--socket", daemon_.path(), "jobs"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not here"), std::string::npos) << r.err;
}

TEST_F(CliTest, UsageErrorsExit2AndRunNothing) {
  ASSERT_TRUE(start(accept_job)) << daemon_.error();
  const std::string s = daemon_.path();
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"--socket", s},
      {"--socket", s, "frobnicate"},
      {"--socket", s, "run"},
      {"--socket", s, "run", "--policy", "llm-finetune"},
      {"--socket", s, "run", "--policy", "llm-finetune", "--"},
      {"--socket", s, "run", "--", "touch", marker()},                              // no policy
      {"--socket", s, "run", "--policy", "llm-finetune", "touch", marker()},        // no "--"
      {"--socket", s, "run", "--policy", "llm-finetune", "--bogus", "--", "true"},
      {"--socket", s, "status", "--bogus"},
      {"--socket", s, "jobs", "extra"},
      {"--socket", s, "sync", "--timeout", "0"},
      {"--socket", s, "sync", "--timeout", "soon"},
      {"--socket", s, "sync", "--bogus"},
  };
  for (const auto& args : bad) {
    CliRun r = run_cli(dir_, args);
    std::string shown;
    for (const auto& a : args) shown += a + " ";
    EXPECT_EQ(r.status, 2) << shown << "\n" << r.err;
    EXPECT_FALSE(r.err.empty()) << shown << ": a usage error says what is wrong";
  }
  EXPECT_FALSE(fts::testing::exists(marker()));
  EXPECT_EQ(daemon_.calls(), 0u) << "a usage error must not reach the daemon";
}

// `sync` asks for the barrier with the caller's timeout and says what it drained.
v1::Response answer_sync(const v1::Request& req, const control::Peer&) {
  v1::Response r;
  if (req.body_case() != v1::Request::kSync) {
    r.set_ok(false);
    r.set_error("not here");
    return r;
  }
  r.set_ok(true);
  auto* s = r.mutable_sync();
  s->set_records(42);
  s->set_fanotify_events(3);
  s->set_hashes_finished(2);
  // A daemon still hashing at the timeout says so.
  s->set_hashes_pending(req.sync().timeout_ms() == 1 ? 5 : 0);
  s->set_waited_ms(req.sync().timeout_ms());
  return r;
}

TEST_F(CliTest, SyncReportsWhatWasDrained) {
  ASSERT_TRUE(start(answer_sync)) << daemon_.error();
  CliRun r = run_cli(dir_, {"--socket", daemon_.path(), "sync", "--timeout", "2500", "--settle"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("42 records, 3 fanotify events, 2 hashes finished, 0 pending"), std::string::npos) << r.out;
  auto reqs = daemon_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  ASSERT_TRUE(reqs[0].has_sync());
  EXPECT_EQ(reqs[0].sync().timeout_ms(), 2500u);
  EXPECT_TRUE(reqs[0].sync().settle());
}

TEST_F(CliTest, SyncJsonAndPendingHashesExit3) {
  ASSERT_TRUE(start(answer_sync)) << daemon_.error();
  CliRun r = run_cli(dir_, {"--socket", daemon_.path(), "sync", "--json", "--timeout", "1"});
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_NE(r.out.find("\"hashes_pending\": \"5\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"records\": \"42\""), std::string::npos) << r.out;
}

TEST_F(CliTest, SyncWithoutDaemonFails) {
  CliRun r = run_cli(dir_, {"--socket", dir_ / "none.sock", "sync"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not running"), std::string::npos) << r.err;
}

TEST_F(CliTest, HelpExitsZero) {
  CliRun r = run_cli(dir_, {"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.err.find("run --policy NAME"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace fts
