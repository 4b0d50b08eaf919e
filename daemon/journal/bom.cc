// The run's CycloneDX 1.6 BOM, built from review(): its data files read and
// written (with the digests the daemon took), and its process tree's
// executables. Each file is one component per use (read, written), so a file
// read and then rewritten shows both digests.
#include "journal/bom.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "common/glob.h"
#include "common/model_file.h"
#include "common/time.h"

namespace fts::journal {
namespace {

using Json = nlohmann::ordered_json;
using Key = std::pair<std::string, std::string>;  // (host, path)

// Hugging Face trust_remote_code: Python fetched into the modules cache.
constexpr const char* kRemoteCode = "**/huggingface/modules/**";

// What the journal says of a file's content: hashed (the digest is in the
// review), or why not.
struct HashFacts {
  bool journaled = false;  // a file_hash record names it, with a digest or an error
  std::string error;
};

std::map<Key, HashFacts> hash_facts(const Loaded& run) {
  std::map<Key, HashFacts> out;
  for (const auto& t : run.entries) {
    if (!t.has_event() || t.event().kind() != "file_hash") continue;
    const v1::Event& e = t.event();
    HashFacts& h = out[{e.host(), e.file().path()}];
    h.journaled = true;
    if (!e.hash().error().empty()) h.error = e.hash().error();
  }
  return out;
}

bool has(const google::protobuf::RepeatedPtrField<std::string>& v, const char* x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string joined(const google::protobuf::RepeatedPtrField<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

bool is_remote_code(const std::string& path) {
  return glob_match(kRemoteCode, path) && path.size() > 3 && path.compare(path.size() - 3, 3, ".py") == 0;
}

// The file's content changed under this name (not a directory, a
// permission or the old name of a rename).
bool wrote_content(const v1::DataFile& d) {
  if (has(d.ops(), "mkdir") || has(d.ops(), "rmdir")) return false;
  for (const char* a : {"write", "create", "truncate", "append"})
    if (has(d.access(), a)) return !has(d.access(), "directory");
  for (const char* op : {"rename_target", "link_target", "close_write", "modify", "create"})
    if (has(d.ops(), op)) return true;
  return false;
}

// A read that is part of the BOM: not a listing, not a credential (the
// alerts say those), not the base list.
bool bom_read(const v1::DataFile& d) {
  return !has(d.access(), "directory") && !has(d.classes(), "sensitive") && !has(d.classes(), "base");
}

struct Use {
  const char* role;  // dataset | model | remote-code | code | output | written (outside the policy's outputs)
  const char* type;  // the CycloneDX component type
};

Use use_of(const v1::DataFile& d, bool written) {
  if (is_remote_code(d.path())) return {"remote-code", "file"};
  bool model = model_format(d.path()) != ModelFormat::kNone;
  if (written) return {has(d.classes(), "outputs") ? "output" : "written", model ? "machine-learning-model" : "data"};
  if (model) return {"model", "machine-learning-model"};
  if (has(d.classes(), "code")) return {"code", "file"};
  return {"dataset", "data"};
}

void property(Json* c, const std::string& name, const std::string& value) {
  if (value.empty()) return;
  (*c)["properties"].push_back({{"name", "ftsentinel:" + name}, {"value", value}});
}

std::string pids_of(const google::protobuf::RepeatedField<uint32_t>& pids) {
  std::string s;
  for (uint32_t p : pids) s += (s.empty() ? "" : ",") + std::to_string(p);
  return s;
}

class BomBuilder {
 public:
  BomBuilder(const Loaded& run, const BomOptions& o) : run_(run), o_(o), facts_(hash_facts(run)) {}

  void add_file(const v1::DataFile& d, bool written);
  void add_executables(const google::protobuf::RepeatedPtrField<v1::ProcessNode>& nodes);
  Json finish(const v1::Review& rv);

 private:
  void digest(const v1::DataFile& d, bool written, Json* c) const;
  Json subject(const v1::Review& rv) const;
  void add_executable(const v1::ProcessNode& n);

  const Loaded& run_;
  const BomOptions& o_;
  std::map<Key, HashFacts> facts_;
  Json components_ = Json::array();
  std::vector<std::string> used_;  // the refs the run depends on (not its outputs)
  std::map<Key, size_t> executables_;  // (host, exe) -> index in components_
};

// The daemon's digest: a read's first, a written file's last. A written file
// the journal says nothing of is hashed now, when the caller can.
void BomBuilder::digest(const v1::DataFile& d, bool written, Json* c) const {
  std::string sha = d.sha256(), source = "journal";
  auto f = facts_.find({d.host(), d.path()});
  if (sha.empty() && written && (f == facts_.end() || !f->second.journaled) && o_.hash_now) {
    if (auto now = o_.hash_now(d.path())) {
      sha = *now;
      source = "export";
    }
  }
  if (sha.empty()) {
    property(c, "sha256_missing", f != facts_.end() && !f->second.error.empty() ? f->second.error : "not hashed");
    return;
  }
  (*c)["hashes"] = Json::array({{{"alg", "SHA-256"}, {"content", sha}}});
  property(c, "sha256_source", source);
  if (source == "journal") {
    property(c, "size", std::to_string(d.size()));
    property(c, "mtime", d.mtime());
  }
}

void BomBuilder::add_file(const v1::DataFile& d, bool written) {
  if (written ? !wrote_content(d) : !bom_read(d)) return;
  Use u = use_of(d, written);
  std::string ref = std::string(written ? "written:" : "read:") + d.host() + ":" + d.path();
  Json c = {{"type", u.type}, {"bom-ref", ref}, {"name", d.path()}};
  if (std::string_view(u.type) == "data") {
    c["data"] = Json::array({{{"type", "dataset"}, {"name", d.path()}}});
  }
  digest(d, written, &c);
  property(&c, "role", u.role);
  property(&c, "path", d.path());
  property(&c, "host", d.host());
  property(&c, "first_access", d.first_access());
  property(&c, "last_access", d.last_access());
  property(&c, "classes", joined(d.classes()));
  if (ModelFormat m = model_format(d.path()); m != ModelFormat::kNone)
    property(&c, "model_format", m == ModelFormat::kPickle ? "pickle" : "weights-only");
  property(&c, "pids", pids_of(d.pids()));
  if (d.hash_differs()) property(&c, "other_hosts_sha256", joined(d.other_hosts_sha256()));
  if (!written) used_.push_back(ref);
  components_.push_back(std::move(c));
}

void BomBuilder::add_executable(const v1::ProcessNode& n) {
  if (n.exe().empty()) return;
  std::string when = n.exec_time().empty() ? n.start_time() : n.exec_time();
  auto [it, fresh] = executables_.try_emplace({n.host(), n.exe()}, components_.size());
  if (!fresh) {
    Json& c = components_[it->second];
    for (auto& p : c["properties"])
      if (p["name"] == "ftsentinel:pids") p["value"] = p["value"].get<std::string>() + "," + std::to_string(n.pid());
    return;
  }
  std::string ref = "exe:" + n.host() + ":" + n.exe();
  std::string name = n.exe().substr(n.exe().rfind('/') + 1);
  Json c = {{"type", "application"}, {"bom-ref", ref}, {"name", name.empty() ? n.exe() : name}};
  property(&c, "role", "executable");
  property(&c, "path", n.exe());
  property(&c, "host", n.host());
  property(&c, "first_exec", when);
  property(&c, "pids", std::to_string(n.pid()));
  used_.push_back(ref);
  components_.push_back(std::move(c));
}

void BomBuilder::add_executables(const google::protobuf::RepeatedPtrField<v1::ProcessNode>& nodes) {
  for (const auto& n : nodes) {
    add_executable(n);
    add_executables(n.children());
  }
}

// The run itself: what the BOM describes.
Json BomBuilder::subject(const v1::Review& rv) const {
  const v1::Job& j = rv.run().job();
  std::string name = j.name().empty() ? "job " + j.id() : j.name();
  Json c = {{"type", "application"}, {"bom-ref", "run"}, {"name", name}};
  property(&c, "job", j.id());
  property(&c, "policy", j.policy());
  property(&c, "run", run_.run_id.empty() ? j.run() : run_.run_id);
  std::string hosts;
  for (const auto& h : run_.hosts) hosts += (hosts.empty() ? "" : ",") + h;
  property(&c, "hosts", hosts.empty() ? j.host() : hosts);
  property(&c, "start_time", j.start_time());
  property(&c, "end_time", j.end_time());
  if (rv.run().has_exit_code()) property(&c, "exit_code", std::to_string(rv.run().exit_code()));
  return c;
}

std::string random_serial() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) return "";
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  char s[64];
  snprintf(s, sizeof s, "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
           b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return s;
}

Json BomBuilder::finish(const v1::Review& rv) {
  Json bom = {{"$schema", "http://cyclonedx.org/schema/bom-1.6.schema.json"},
              {"bomFormat", "CycloneDX"},
              {"specVersion", "1.6"}};
  std::string serial = o_.serial_number.empty() ? random_serial() : o_.serial_number;
  if (!serial.empty()) bom["serialNumber"] = serial;
  bom["version"] = 1;
  bom["metadata"] = {
      {"timestamp", o_.timestamp.empty() ? rfc3339(now_wall_ns()) : o_.timestamp},
      {"tools", {{"components", Json::array({{{"type", "application"}, {"name", "ftsentinel"},
                                               {"version", FTS_VERSION}}})}}},
      {"component", subject(rv)}};
  bom["components"] = std::move(components_);
  Json deps = Json::array();
  std::set<std::string> seen;
  for (const auto& r : used_)
    if (seen.insert(r).second) deps.push_back(r);
  bom["dependencies"] = Json::array({{{"ref", "run"}, {"dependsOn", std::move(deps)}}});
  return bom;
}

}  // namespace

std::string cyclonedx_bom(const Loaded& run, const v1::Review& rv, const BomOptions& o) {
  BomBuilder b(run, o);
  for (const auto& d : rv.read()) b.add_file(d, false);
  for (const auto& d : rv.written()) b.add_file(d, true);
  b.add_executables(rv.processes());
  // A path is bytes: what is not UTF-8 is replaced, never a throw.
  return b.finish(rv).dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace fts::journal
