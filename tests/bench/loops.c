// fts_bench_loops: the workloads of tests/bench/run_bench.py.
//   fts_bench_loops open N [PATH]      N x open(PATH, O_RDONLY) + close (default /etc/hostname)
//   fts_bench_loops forkexec N [EXE]   N x fork + execve(EXE) + waitpid (default /bin/true)
// Prints the elapsed wall-clock nanoseconds per operation (CLOCK_MONOTONIC) on
// stdout as a single number; errors go to stderr with exit status 1 (2: usage).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int usage(void) {
  fprintf(stderr,
          "usage: fts_bench_loops open N [PATH]\n"
          "       fts_bench_loops forkexec N [EXE]\n");
  return 2;
}

static int loop_open(long n, const char* path) {
  // One untimed open first: the file must exist and be readable.
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "fts_bench_loops: open %s: %s\n", path, strerror(errno));
    return 1;
  }
  close(fd);
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      fprintf(stderr, "fts_bench_loops: open %s: %s\n", path, strerror(errno));
      return 1;
    }
    close(fd);
  }
  uint64_t t1 = now_ns();
  printf("%.1f\n", (double)(t1 - t0) / (double)n);
  return 0;
}

static int loop_forkexec(long n, const char* exe) {
  char* const argv[] = {(char*)exe, NULL};
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      fprintf(stderr, "fts_bench_loops: fork: %s\n", strerror(errno));
      return 1;
    }
    if (pid == 0) {
      execve(exe, argv, environ);
      _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) {
        fprintf(stderr, "fts_bench_loops: waitpid: %s\n", strerror(errno));
        return 1;
      }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "fts_bench_loops: %s failed (status 0x%x)\n", exe, status);
      return 1;
    }
  }
  uint64_t t1 = now_ns();
  printf("%.1f\n", (double)(t1 - t0) / (double)n);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) return usage();
  char* end;
  errno = 0;
  long n = strtol(argv[2], &end, 10);
  if (errno || *end || n <= 0) return usage();
  if (strcmp(argv[1], "open") == 0) return loop_open(n, argc > 3 ? argv[3] : "/etc/hostname");
  if (strcmp(argv[1], "forkexec") == 0) return loop_forkexec(n, argc > 3 ? argv[3] : "/bin/true");
  return usage();
}
