// DNS names: the kernel's wire-format question name to text, and the
// dns-tunnel rule's parent domain and entropy on whatever names a job asks.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "decode/records.h"
#include "rules/dns_tunnel.h"

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void check_name(const std::string& name) {
  namespace dt = fts::rules::dns_tunnel;
  std::string lowered = lower(name);
  std::string parent = dt::parent_domain(lowered);
  // The rule counts names under their parent: it must be the name's own tail.
  std::string_view n = lowered;
  if (!n.empty() && n.back() == '.') n.remove_suffix(1);
  if (!n.ends_with(parent)) fail("parent_domain(\"" + lowered + "\") = \"" + parent + "\" is not its suffix");
  double h = dt::entropy(name);
  if (!(h >= 0 && h <= 8.0 + 1e-9) || std::isnan(h)) fail("entropy out of [0, 8]: " + std::to_string(h));
  (void)dt::looks_encoded(lowered, parent, dt::Thresholds{});
}

}  // namespace

// Input: a wire-format name (length-prefixed labels), as the kernel copies it.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view wire(reinterpret_cast<const char*>(data), size);
  bool truncated = false;
  std::string name = fts::decode::dns_name_from_wire(wire, &truncated);
  if (name.size() > size) fail("a name longer than its wire form");
  check_name(name);
  check_name(std::string(wire));  // and the raw bytes as a name
  return 0;
}
