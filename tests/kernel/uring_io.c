// Opens, reads or writes, and closes a file through io_uring operations only
// (IORING_OP_OPENAT, READ or WRITE, CLOSE): no open/read/write syscall touches
// the file, so only what watches io_uring (or the VFS) can see it. Raw
// syscalls, no liburing (Debian has no Python binding for it either).
//   uring_io read PATH          prints the bytes read, then "pid N"
//   uring_io write PATH TEXT    appends TEXT (O_CREAT), then "pid N"
// Built by the kernel tests with cc; exits non-zero with the errno on failure.
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ring {
  int fd;
  struct io_uring_params p;
  uint8_t *sq, *cq;
  struct io_uring_sqe *sqes;
};

static void die(const char *what, int err) {
  fprintf(stderr, "uring_io: %s: %s\n", what, strerror(err));
  exit(1);
}

static void ring_init(struct ring *r) {
  memset(&r->p, 0, sizeof(r->p));
  r->fd = (int)syscall(__NR_io_uring_setup, 4, &r->p);
  if (r->fd < 0) die("io_uring_setup", errno);
  size_t sq_len = r->p.sq_off.array + r->p.sq_entries * sizeof(uint32_t);
  size_t cq_len = r->p.cq_off.cqes + r->p.cq_entries * sizeof(struct io_uring_cqe);
  r->sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  r->cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
  r->sqes = mmap(NULL, r->p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (r->sq == MAP_FAILED || r->cq == MAP_FAILED || r->sqes == MAP_FAILED) die("mmap ring", errno);
}

// Submits one prepared SQE and waits for its completion; returns cqe.res.
static int ring_run(struct ring *r, const struct io_uring_sqe *sqe) {
  uint32_t *tail = (uint32_t *)(r->sq + r->p.sq_off.tail);
  uint32_t mask = *(uint32_t *)(r->sq + r->p.sq_off.ring_mask);
  uint32_t *array = (uint32_t *)(r->sq + r->p.sq_off.array);
  uint32_t t = *tail;
  r->sqes[t & mask] = *sqe;
  array[t & mask] = t & mask;
  __atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
  if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) die("io_uring_enter", errno);
  uint32_t *head = (uint32_t *)(r->cq + r->p.cq_off.head);
  uint32_t cmask = *(uint32_t *)(r->cq + r->p.cq_off.ring_mask);
  struct io_uring_cqe *cqes = (struct io_uring_cqe *)(r->cq + r->p.cq_off.cqes);
  uint32_t h = __atomic_load_n(head, __ATOMIC_ACQUIRE);
  int res = cqes[h & cmask].res;
  __atomic_store_n(head, h + 1, __ATOMIC_RELEASE);
  return res;
}

int main(int argc, char **argv) {
  int writing = argc == 4 && strcmp(argv[1], "write") == 0;
  if (!writing && !(argc == 3 && strcmp(argv[1], "read") == 0)) {
    fprintf(stderr, "usage: uring_io read PATH | uring_io write PATH TEXT\n");
    return 2;
  }
  struct ring r;
  ring_init(&r);
  struct io_uring_sqe sqe;
  memset(&sqe, 0, sizeof(sqe));
  sqe.opcode = IORING_OP_OPENAT;
  sqe.fd = AT_FDCWD;
  sqe.addr = (uint64_t)(uintptr_t)argv[2];
  sqe.open_flags = writing ? O_WRONLY | O_CREAT | O_APPEND : O_RDONLY;
  sqe.len = 0644;
  int fd = ring_run(&r, &sqe);
  if (fd < 0) die("IORING_OP_OPENAT", -fd);

  static char buf[1 << 16];
  memset(&sqe, 0, sizeof(sqe));
  sqe.opcode = writing ? IORING_OP_WRITE : IORING_OP_READ;
  sqe.fd = fd;
  sqe.addr = (uint64_t)(uintptr_t)(writing ? argv[3] : buf);
  sqe.len = writing ? (uint32_t)strlen(argv[3]) : sizeof(buf);
  sqe.off = writing ? (uint64_t)-1 : 0;  // -1: at the file position (append)
  int n = ring_run(&r, &sqe);
  if (n < 0) die(writing ? "IORING_OP_WRITE" : "IORING_OP_READ", -n);

  memset(&sqe, 0, sizeof(sqe));
  sqe.opcode = IORING_OP_CLOSE;
  sqe.fd = fd;
  int c = ring_run(&r, &sqe);
  if (c < 0) die("IORING_OP_CLOSE", -c);
  printf("%d\npid %d\n", n, getpid());
  return 0;
}
