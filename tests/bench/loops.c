// fts_bench_loops: the workloads of tests/bench/run_bench.py.
//   fts_bench_loops open N [PATH]      N x open(PATH, O_RDONLY) + close (default /etc/hostname)
//   fts_bench_loops forkexec N [EXE]   N x fork + execve(EXE) + waitpid (default /bin/true)
//   fts_bench_loops tcp N              N x 64 KiB send over loopback TCP to a child that drains it
//                                      (16384 = 1 GiB); ns per 64 KiB, until the child has it all
//   fts_bench_loops connect N          N x connect + close (RST) to a loopback listener in a child
// Prints the elapsed wall-clock nanoseconds per operation (CLOCK_MONOTONIC) on
// stdout as a single number; errors go to stderr with exit status 1 (2: usage).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
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
          "       fts_bench_loops forkexec N [EXE]\n"
          "       fts_bench_loops tcp N\n"
          "       fts_bench_loops connect N\n");
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

// A listener on 127.0.0.1 (a port the kernel picks) served by a child:
// drain == 1: read each connection to its end, then answer one byte;
// drain == 0: accept and close. Returns the child's pid.
static pid_t loopback_server(int drain, struct sockaddr_in* addr) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  socklen_t len = sizeof(*addr);
  memset(addr, 0, sizeof(*addr));
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (l < 0 || bind(l, (struct sockaddr*)addr, sizeof(*addr)) || listen(l, 1024) ||
      getsockname(l, (struct sockaddr*)addr, &len)) {
    fprintf(stderr, "fts_bench_loops: listener: %s\n", strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0) {
    static char buf[1 << 16];
    for (;;) {
      int c = accept(l, NULL, NULL);
      if (c < 0) _exit(1);
      if (drain) {
        while (read(c, buf, sizeof(buf)) > 0) {
        }
        if (write(c, "k", 1) != 1) _exit(1);
      }
      close(c);
    }
  }
  close(l);
  return pid;
}

static int loop_tcp(long n) {
  static char buf[1 << 16];
  struct sockaddr_in addr;
  pid_t server = loopback_server(1, &addr);
  if (server < 0) return 1;
  memset(buf, 'x', sizeof(buf));
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (c < 0 || connect(c, (struct sockaddr*)&addr, sizeof(addr))) {
    fprintf(stderr, "fts_bench_loops: connect: %s\n", strerror(errno));
    kill(server, SIGKILL);
    return 1;
  }
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; i++) {
    size_t off = 0;
    while (off < sizeof(buf)) {
      ssize_t w = write(c, buf + off, sizeof(buf) - off);
      if (w <= 0) {
        fprintf(stderr, "fts_bench_loops: write: %s\n", strerror(errno));
        kill(server, SIGKILL);
        return 1;
      }
      off += (size_t)w;
    }
  }
  shutdown(c, SHUT_WR);
  char ack;
  int ok = read(c, &ack, 1) == 1;  // the server has read everything
  uint64_t t1 = now_ns();
  close(c);
  kill(server, SIGKILL);
  waitpid(server, NULL, 0);
  if (!ok) {
    fprintf(stderr, "fts_bench_loops: no acknowledgement from the server\n");
    return 1;
  }
  printf("%.1f\n", (double)(t1 - t0) / (double)n);
  return 0;
}

static int loop_connect(long n) {
  struct sockaddr_in addr;
  pid_t server = loopback_server(0, &addr);
  if (server < 0) return 1;
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; i++) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr*)&addr, sizeof(addr))) {
      fprintf(stderr, "fts_bench_loops: connect: %s\n", strerror(errno));
      kill(server, SIGKILL);
      return 1;
    }
    // Reset, not FIN: thousands of TIME_WAIT sockets would slow later runs' port choice.
    struct linger lg = {1, 0};
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(c);
  }
  uint64_t t1 = now_ns();
  kill(server, SIGKILL);
  waitpid(server, NULL, 0);
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
  if (strcmp(argv[1], "tcp") == 0) return loop_tcp(n);
  if (strcmp(argv[1], "connect") == 0) return loop_connect(n);
  return usage();
}
