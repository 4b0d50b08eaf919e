#include "spool/spool.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace fts::spool {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kHeader = 8;
constexpr uint32_t kMaxRecord = 16u << 20;  // a record bigger than this is corruption

void put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t get32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

bool pread_all(int fd, void* buf, size_t n, uint64_t off) {
  auto* p = static_cast<char*>(buf);
  while (n) {
    ssize_t k = pread(fd, p, n, static_cast<off_t>(off));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
    off += static_cast<uint64_t>(k);
  }
  return true;
}

bool write_all(int fd, const char* p, size_t n) {
  while (n) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// Reads one record at `off`; false at the end or on a bad record.
bool read_record(int fd, uint64_t off, uint64_t size, std::string* payload, uint64_t* next) {
  unsigned char h[kHeader];
  if (off + kHeader > size || !pread_all(fd, h, kHeader, off)) return false;
  uint32_t len = get32(h), crc = get32(h + 4);
  if (len > kMaxRecord || off + kHeader + len > size) return false;
  payload->resize(len);
  if (len && !pread_all(fd, payload->data(), len, off + kHeader)) return false;
  if (crc32(*payload) != crc) return false;
  *next = off + kHeader + len;
  return true;
}

}  // namespace

uint32_t crc32(std::string_view data) {
  // zlib's (CRC-32/ISO-HDLC, as Boost's crc_32_type: spools written before
  // read the same): word-at-a-time, ~5x the byte table's speed, and every
  // record the SIEM gets is checked twice (spooled, then read to send).
  uLong c = ::crc32(0L, Z_NULL, 0);
  for (size_t off = 0; off < data.size();) {  // zlib takes uInt lengths
    uInt n = static_cast<uInt>(std::min<size_t>(data.size() - off, 1u << 30));
    c = ::crc32(c, reinterpret_cast<const Bytef*>(data.data() + off), n);
    off += n;
  }
  return static_cast<uint32_t>(c);
}

Result<std::unique_ptr<Spool>> Spool::open(const Options& o) {
  Options opts = o;
  if (opts.max_bytes < (64u << 10)) opts.max_bytes = 64u << 10;
  if (opts.segment_bytes == 0) opts.segment_bytes = std::max<uint64_t>(opts.max_bytes / 8, 64u << 10);
  // At least two segments fit: dropping the oldest always frees room.
  opts.segment_bytes = std::min(opts.segment_bytes, opts.max_bytes / 2);
  std::unique_ptr<Spool> s(new Spool(std::move(opts)));
  if (auto st = s->load(); !st) return make_error(st.error());
  return s;
}

Spool::~Spool() {
  if (tail_fd_ >= 0) close(tail_fd_);
}

std::string Spool::seg_path(uint64_t seq) const {
  char name[32];
  snprintf(name, sizeof(name), "%016llu.seg", static_cast<unsigned long long>(seq));
  return opts_.dir + "/" + name;
}

Status Spool::load() {
  std::error_code ec;
  fs::create_directories(opts_.dir, ec);
  if (ec) return make_error("spool " + opts_.dir + ": " + ec.message());
  chmod(opts_.dir.c_str(), 0700);  // alerts name files and commands
  std::vector<uint64_t> seqs;
  for (const auto& e : fs::directory_iterator(opts_.dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.size() == 20 && n.ends_with(".seg")) seqs.push_back(std::strtoull(n.c_str(), nullptr, 10));
  }
  if (ec) return make_error("spool " + opts_.dir + ": " + ec.message());
  std::sort(seqs.begin(), seqs.end());

  Pos saved{0, 0};
  if (std::ifstream in(opts_.dir + "/head"); in) {
    unsigned long long seq = 0, off = 0;
    if (in >> seq >> off) saved = {seq, off};
  }

  std::string payload;
  for (uint64_t seq : seqs) {
    const std::string path = seg_path(seq);
    if (seq < saved.seq) {  // wholly acknowledged before a restart
      fs::remove(path, ec);
      continue;
    }
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return make_error("spool " + path + ": " + std::strerror(errno));
    struct stat st {};
    fstat(fd, &st);
    uint64_t size = static_cast<uint64_t>(st.st_size), off = 0, next = 0;
    Segment seg{seq, 0, 0};
    while (read_record(fd, off, size, &payload, &next)) {
      if (seq == saved.seq && next <= saved.offset) {
        head_index_++;
        head_ = {seq, next};
      }
      off = next;
      seg.records++;
    }
    if (off < size) {
      // A torn append (crash) or corruption: keep what is whole.
      spdlog::warn("spool {}: cutting {} bytes of incomplete records", path, size - off);
      if (ftruncate(fd, static_cast<off_t>(off)) != 0) spdlog::warn("spool {}: truncate: {}", path, std::strerror(errno));
    }
    close(fd);
    seg.size = off;
    segs_.push_back(seg);
  }
  if (segs_.empty()) {
    // Everything was delivered: carry the sequence on so the saved head
    // never points past a new segment's first records.
    head_ = {saved.seq, 0};
  } else if (head_.seq != segs_.front().seq) {
    head_ = {segs_.front().seq, 0};
    head_index_ = 0;
  }
  records_ = 0;
  for (const auto& s : segs_) records_ += s.records;
  records_ -= head_index_;
  remove_consumed();
  auto st = open_tail(segs_.empty());
  save_head();
  return st;
}

Status Spool::open_tail(bool create) {
  if (tail_fd_ >= 0) close(tail_fd_);
  if (create) {
    uint64_t seq = segs_.empty() ? std::max<uint64_t>(head_.seq, 1) : segs_.back().seq + 1;
    segs_.push_back(Segment{seq, 0, 0});
    if (segs_.size() == 1) {
      head_ = {seq, 0};
      head_index_ = 0;
    }
  }
  const std::string path = seg_path(segs_.back().seq);
  tail_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (tail_fd_ < 0) return make_error("spool " + path + ": " + std::strerror(errno));
  return {};
}

uint64_t Spool::bytes() const {
  uint64_t b = 0;
  for (const auto& s : segs_) b += s.size;
  return b;
}

Status Spool::append(const std::vector<std::string>& records, size_t* appended) {
  // `done` records are on disk (or dropped); `in_buf` more wait in `buf`, which
  // goes at the tail's offset `base`. A failed write (a full disk) cuts the
  // tail back to `base` and forgets the buffered records: the spool holds
  // exactly records[0, done), and the caller keeps the rest.
  std::string buf;
  size_t done = 0, in_buf = 0;
  uint64_t base = segs_.back().size;
  auto flush_buf = [&]() -> Status {
    if (buf.empty()) return {};
    Status opened = tail_fd_ >= 0 ? Status{} : open_tail(false);  // a failed segment start is retried here
    if (!opened || !write_all(tail_fd_, buf.data(), buf.size())) {
      std::string why = opened ? std::strerror(errno) : opened.error();
      if (tail_fd_ >= 0 && ftruncate(tail_fd_, static_cast<off_t>(base)) != 0) {
      }
      Segment& tail = segs_.back();
      tail.size = base;
      tail.records -= in_buf;
      records_ -= in_buf;
      return make_error("spool append: " + why);
    }
    buf.clear();
    done += in_buf;
    in_buf = 0;
    base = segs_.back().size;
    return {};
  };
  auto result = [&](Status st) {
    if (appended) *appended = done;
    return st;
  };
  for (const auto& r : records) {
    uint64_t need = kHeader + r.size();
    if (need > opts_.max_bytes / 2 || r.size() > kMaxRecord) {
      if (auto st = flush_buf(); !st) return result(st);
      dropped_++;
      done++;
      continue;
    }
    if (segs_.back().size > 0 && segs_.back().size + need > opts_.segment_bytes) {
      if (auto st = flush_buf(); !st) return result(st);
      if (auto st = open_tail(true); !st) return result(st);
      base = 0;
    }
    while (bytes() + need > opts_.max_bytes && segs_.size() > 1) {
      if (auto st = flush_buf(); !st) return result(st);
      drop_oldest();
    }
    char h[kHeader];
    put32(h, static_cast<uint32_t>(r.size()));
    put32(h + 4, crc32(r));
    buf.append(h, kHeader);
    buf.append(r);
    segs_.back().size += need;
    segs_.back().records++;
    records_++;
    in_buf++;
  }
  return result(flush_buf());
}

void Spool::drop_oldest() {
  Segment s = segs_.front();
  uint64_t lost = s.records - (s.seq == head_.seq ? head_index_ : 0);
  dropped_ += lost;
  records_ -= lost;
  std::error_code ec;
  fs::remove(seg_path(s.seq), ec);
  segs_.pop_front();
  if (head_.seq <= s.seq) {
    head_ = {segs_.front().seq, 0};
    head_index_ = 0;
  }
  save_head();
}

std::vector<std::string> Spool::peek(size_t max_records, size_t max_bytes) {
  std::vector<std::string> out;
  peeked_.clear();
  size_t total = 0;
  Pos p = head_;
  std::string payload;
  for (const auto& seg : segs_) {
    if (seg.seq < p.seq) continue;
    uint64_t off = seg.seq == p.seq ? p.offset : 0;
    if (off >= seg.size) continue;
    int fd = ::open(seg_path(seg.seq).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;
    uint64_t next = 0;
    while (out.size() < max_records && (out.empty() || total < max_bytes) &&
           read_record(fd, off, seg.size, &payload, &next)) {
      total += payload.size();
      out.push_back(std::move(payload));
      payload.clear();
      peeked_.push_back({seg.seq, next});
      off = next;
    }
    close(fd);
    if (out.size() >= max_records || total >= max_bytes) break;
  }
  return out;
}

void Spool::ack(size_t n) {
  n = std::min(n, peeked_.size());
  auto before = [](const Pos& a, const Pos& b) { return a.seq < b.seq || (a.seq == b.seq && a.offset <= b.offset); };
  for (size_t i = 0; i < n; ++i) {
    const Pos& p = peeked_[i];
    if (before(p, head_)) continue;  // its segment was dropped meanwhile
    if (p.seq != head_.seq) head_index_ = 0;
    head_ = p;
    head_index_++;
    records_--;
  }
  peeked_.erase(peeked_.begin(), peeked_.begin() + static_cast<long>(n));
  remove_consumed();
  save_head();
}

void Spool::remove_consumed() {
  std::error_code ec;
  while (segs_.size() > 1 && (segs_.front().seq < head_.seq ||
                              (segs_.front().seq == head_.seq && head_.offset >= segs_.front().size))) {
    fs::remove(seg_path(segs_.front().seq), ec);
    segs_.pop_front();
    if (head_.seq < segs_.front().seq) {
      head_ = {segs_.front().seq, 0};
      head_index_ = 0;
    }
  }
  // Everything delivered: start the tail afresh rather than let it grow.
  if (segs_.size() == 1 && records_ == 0 && segs_.front().size > 0 && tail_fd_ >= 0 &&
      head_.offset >= segs_.front().size) {
    if (ftruncate(tail_fd_, 0) == 0) {
      segs_.front().size = 0;
      segs_.front().records = 0;
      head_ = {segs_.front().seq, 0};
      head_index_ = 0;
      peeked_.clear();
    }
  }
}

void Spool::save_head() {
  const std::string tmp = opts_.dir + "/head.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << head_.seq << ' ' << head_.offset << '\n';
    if (!out) return;
  }
  std::error_code ec;
  fs::rename(tmp, opts_.dir + "/head", ec);
}

}  // namespace fts::spool
