// The on-disk spool after a crash or a bad disk: segments truncated or
// corrupted anywhere, a head file with any content. Opening keeps the whole
// records, and the counts stay true: what records() says is what peek()
// returns, appends come back after it in order, a full ack empties it, and a
// reopen (a restart) neither loses nor re-delivers what was acknowledged.
#include <fuzzer/FuzzedDataProvider.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "spool/spool.h"

namespace {

namespace fs = std::filesystem;
using fts::spool::Spool;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "spool: %s\n", what.c_str());
  std::abort();
}

std::string put32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A segment as the spool writes it, with the damage the input asks for.
std::string segment(FuzzedDataProvider& in) {
  std::string seg;
  for (int n = in.ConsumeIntegralInRange(0, 6); n > 0; --n) {
    std::string payload = in.ConsumeRandomLengthString(64);
    uint32_t len = static_cast<uint32_t>(payload.size()), crc = fts::spool::crc32(payload);
    switch (in.ConsumeIntegralInRange(0, 7)) {
      case 0: crc ^= 1u << in.ConsumeIntegralInRange(0, 31); break;
      case 1: len = in.ConsumeIntegral<uint32_t>(); break;
      default: break;
    }
    seg += put32(len) + put32(crc) + payload;
  }
  if (in.ConsumeBool() && !seg.empty()) seg.resize(in.ConsumeIntegralInRange<size_t>(0, seg.size() - 1));
  return seg;
}

std::string seg_name(uint64_t seq) {
  char name[32];
  std::snprintf(name, sizeof(name), "%016llu.seg", static_cast<unsigned long long>(seq));
  return name;
}

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::unique_ptr<Spool> open(const std::string& dir) {
  auto s = Spool::open({dir, 64u << 10, 0});
  if (!s) fail("open: " + s.error());
  return std::move(*s);
}

std::vector<std::string> peek_all(Spool& s) {
  auto got = s.peek(SIZE_MAX, SIZE_MAX);
  if (got.size() != s.records())
    fail("records() = " + std::to_string(s.records()) + " but peek returns " + std::to_string(got.size()));
  return got;
}

void run(FuzzedDataProvider& in, const std::string& dir) {
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) {
    uint64_t seq = in.ConsumeIntegralInRange<uint64_t>(0, 6);
    write(dir + "/" + seg_name(seq), segment(in));
  }
  switch (in.ConsumeIntegralInRange(0, 2)) {
    case 0: break;  // no head file
    case 1:
      write(dir + "/head", std::to_string(in.ConsumeIntegralInRange<uint64_t>(0, 7)) + " " +
                                std::to_string(in.ConsumeIntegralInRange<uint64_t>(0, 300)) + "\n");
      break;
    default: write(dir + "/head", in.ConsumeRandomLengthString(32)); break;
  }
  auto s = open(dir);
  size_t before = peek_all(*s).size();
  std::vector<std::string> added;
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) added.push_back(in.ConsumeRandomLengthString(64));
  if (!s->append(added)) fail("append failed");
  auto got = peek_all(*s);
  if (s->dropped() == 0 && got.size() != before + added.size()) fail("appended records went missing");
  for (size_t i = 0; i < added.size() && i < got.size(); ++i)
    if (got[got.size() - 1 - i] != added[added.size() - 1 - i]) fail("an appended record came back changed");
  size_t acked = in.ConsumeIntegralInRange<size_t>(0, got.size());
  s->ack(acked);
  size_t left = got.size() - acked;
  if (s->records() != left) fail("ack: " + std::to_string(s->records()) + " left, want " + std::to_string(left));
  s.reset();
  auto again = open(dir);  // a restart
  auto replay = peek_all(*again);
  if (replay.size() != left) fail("after a restart " + std::to_string(replay.size()) + " records, want " + std::to_string(left));
  for (size_t i = 0; i < left; ++i)
    if (replay[i] != got[acked + i]) fail("after a restart a record came back changed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string root = [] {
    spdlog::set_level(spdlog::level::off);  // a cut segment is logged: expected here
    char tmpl[] = "/tmp/fts-fuzz-spool-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    return std::string(tmpl);
  }();
  const std::string dir = root + "/s";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directory(dir);
  FuzzedDataProvider in(data, size);
  run(in, dir);
  return 0;
}
