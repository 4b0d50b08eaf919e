// network.egress and network.resolvers entries: any text parses or is an
// error at an offset inside it; what parses compiles into the kernel's LPM
// and name entries; a name's wire form reads back as the same name through
// the decoder the kernel's DNS records go through.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "decode/records.h"
#include "egress/compile.h"
#include "policy/egress_entry.h"

namespace {

[[noreturn]] void fail(const std::string& entry, const std::string& what) {
  std::fprintf(stderr, "egress entry \"%s\": %s\n", entry.c_str(), what.c_str());
  std::abort();
}

void check_name(const std::string& text, const std::string& name) {
  auto wire = fts::policy::dns_wire(name);
  if (!wire) return;
  if (wire->size() > fts::policy::kMaxWireName) fail(text, "wire name past kMaxWireName");
  bool truncated = true;
  std::string back = fts::decode::dns_name_from_wire(*wire, &truncated);
  std::string want = name;
  if (!want.empty() && want.back() == '.') want.pop_back();
  for (auto& c : want) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (truncated || back != want) fail(text, "wire form reads back as \"" + back + "\"");
}

}  // namespace

// Input: entries, one per line (the first line also as a resolver).
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string all(reinterpret_cast<const char*>(data), size);
  std::map<uint32_t, std::vector<fts::policy::EgressEntry>> entries;
  fts::egress::Resolved resolved;  // every name resolves to one address
  size_t start = 0;
  for (int n = 0; start <= all.size() && n < 16; ++n) {
    size_t nl = all.find('\n', start);
    std::string text = all.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? all.size() + 1 : nl + 1;
    if (n == 0) (void)fts::policy::parse_resolver(text);
    auto r = fts::policy::parse_egress(text);
    if (auto* err = std::get_if<fts::policy::EgressError>(&r)) {
      if (err->offset > text.size()) fail(text, "error offset past the entry: " + err->what);
      continue;
    }
    auto& e = std::get<fts::policy::EgressEntry>(r);
    if (e.prefix > 128) fail(text, "prefix past 128 bits");
    for (const auto& p : e.ports)
      if (p.lo > p.hi) fail(text, "a port range backwards");
    if (!e.addr) {
      check_name(text, e.name);
      fts::Address a{};
      a[15] = static_cast<uint8_t>(n);
      resolved[e.name] = {a};
    }
    entries[static_cast<uint32_t>(n % 3)].push_back(std::move(e));
  }
  (void)fts::egress::compile(entries, resolved);
  (void)fts::egress::compile_names(entries);
  return 0;
}
