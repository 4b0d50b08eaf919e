#include "config/yaml_proto.h"

#include <google/protobuf/descriptor.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <charconv>
#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/units.h"

namespace fts::config {
namespace {

namespace pb = google::protobuf;

class Mapper {
 public:
  Mapper(const std::string& file, std::vector<Diagnostic>* diags) : file_(file), diags_(diags) {}

  void message(const YAML::Node& node, pb::Message* msg, const std::string& path) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      error(node, path, "expected a mapping, got " + kind(node));
      return;
    }
    const pb::Descriptor* desc = msg->GetDescriptor();
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;  // a copy: the iterator yields a temporary pair
      if (!key.IsScalar()) {
        error(key, path, "keys must be plain names");
        continue;
      }
      std::string name = key.Scalar();
      std::string sub = path.empty() ? name : path + "." + name;
      const pb::FieldDescriptor* f = desc->FindFieldByName(name);
      if (!f) {
        error(key, sub, "unknown key" + suggestions(desc));
        continue;
      }
      const YAML::Node value = it->second;
      field(value, msg, f, sub);
    }
  }

 private:
  static std::string kind(const YAML::Node& n) {
    switch (n.Type()) {
      case YAML::NodeType::Map: return "a mapping";
      case YAML::NodeType::Sequence: return "a list";
      case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
      case YAML::NodeType::Null: return "nothing";
      default: return "something undefined";
    }
  }

  static std::string suggestions(const pb::Descriptor* desc) {
    std::string s = " (expected one of: ";
    for (int i = 0; i < desc->field_count(); ++i) {
      if (i) s += ", ";
      s += desc->field(i)->name();
    }
    return s + ")";
  }

  void error(const YAML::Node& n, const std::string& path, std::string msg) {
    const YAML::Mark m = n.Mark();
    diags_->push_back(Diagnostic{file_, m.line + 1, m.column + 1, path, std::move(msg)});
  }

  void field(const YAML::Node& v, pb::Message* msg, const pb::FieldDescriptor* f,
             const std::string& path) {
    const pb::Reflection* r = msg->GetReflection();
    if (f->is_repeated()) {
      if (v.IsNull()) return;
      if (!v.IsSequence()) {
        error(v, path, "expected a list, got " + kind(v));
        return;
      }
      int i = 0;
      for (const auto& item : v) {
        std::string ipath = path + "[" + std::to_string(i++) + "]";
        if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE)
          message(item, r->AddMessage(msg, f), ipath);
        else
          scalar(item, msg, f, ipath, /*repeated=*/true);
      }
      return;
    }
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      message(v, r->MutableMessage(msg, f), path);
      return;
    }
    scalar(v, msg, f, path, false);
  }

  template <typename T>
  bool number(const YAML::Node& v, const std::string& path, T* out) {
    const std::string& s = v.Scalar();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    if (ec != std::errc() || p != s.data() + s.size()) {
      error(v, path, "expected " + std::string(std::is_floating_point_v<T> ? "a number" : "an integer") +
                         (std::is_unsigned_v<T> ? " >= 0" : "") + ", got '" + s + "'");
      return false;
    }
    return true;
  }

  void scalar(const YAML::Node& v, pb::Message* msg, const pb::FieldDescriptor* f,
              const std::string& path, bool repeated) {
    if (!v.IsScalar()) {
      error(v, path, "expected a single value, got " + kind(v));
      return;
    }
    const pb::Reflection* r = msg->GetReflection();
    using FD = pb::FieldDescriptor;
    switch (f->cpp_type()) {
      case FD::CPPTYPE_STRING:
        repeated ? r->AddString(msg, f, v.Scalar()) : r->SetString(msg, f, v.Scalar());
        break;
      case FD::CPPTYPE_BOOL: {
        const std::string& s = v.Scalar();
        bool b;
        if (s == "true" || s == "yes" || s == "on") b = true;
        else if (s == "false" || s == "no" || s == "off") b = false;
        else {
          error(v, path, "expected true or false, got '" + s + "'");
          return;
        }
        repeated ? r->AddBool(msg, f, b) : r->SetBool(msg, f, b);
        break;
      }
      case FD::CPPTYPE_UINT32: {
        uint32_t n;
        bool mib = f->name().size() > 3 && f->name().compare(f->name().size() - 3, 3, "_mb") == 0;
        if (mib && v.Scalar().find_first_not_of("0123456789") != std::string::npos) {
          // A size in MiB may carry its unit: "16MiB", "1GiB".
          auto bytes = parse_bytes(v.Scalar());
          if (!bytes || *bytes % (1u << 20) || *bytes / (1u << 20) > UINT32_MAX) {
            error(v, path, "expected a size in whole MiB ('16', '16MiB', '1GiB'), got '" + v.Scalar() + "'");
            return;
          }
          n = static_cast<uint32_t>(*bytes >> 20);
          repeated ? r->AddUInt32(msg, f, n) : r->SetUInt32(msg, f, n);
        } else if (number(v, path, &n)) {
          repeated ? r->AddUInt32(msg, f, n) : r->SetUInt32(msg, f, n);
        }
        break;
      }
      case FD::CPPTYPE_UINT64: {
        uint64_t n;
        if (number(v, path, &n)) repeated ? r->AddUInt64(msg, f, n) : r->SetUInt64(msg, f, n);
        break;
      }
      case FD::CPPTYPE_INT32: {
        int32_t n;
        if (number(v, path, &n)) repeated ? r->AddInt32(msg, f, n) : r->SetInt32(msg, f, n);
        break;
      }
      case FD::CPPTYPE_INT64: {
        int64_t n;
        if (number(v, path, &n)) repeated ? r->AddInt64(msg, f, n) : r->SetInt64(msg, f, n);
        break;
      }
      case FD::CPPTYPE_DOUBLE: {
        double n;
        if (number(v, path, &n)) repeated ? r->AddDouble(msg, f, n) : r->SetDouble(msg, f, n);
        break;
      }
      case FD::CPPTYPE_ENUM: {
        const pb::EnumValueDescriptor* ev = f->enum_type()->FindValueByName(v.Scalar());
        if (!ev || ev->number() == 0) {
          std::string names;
          for (int i = 1; i < f->enum_type()->value_count(); ++i)
            names += (i > 1 ? ", " : "") + f->enum_type()->value(i)->name();
          error(v, path, "expected one of " + names + ", got '" + v.Scalar() + "'");
          return;
        }
        repeated ? r->AddEnum(msg, f, ev) : r->SetEnum(msg, f, ev);
        break;
      }
      default:
        error(v, path, "unsupported field type");
    }
  }

  const std::string& file_;
  std::vector<Diagnostic>* diags_;
};

}  // namespace

std::string Diagnostic::str() const {
  std::ostringstream os;
  os << file << ":" << line << ":" << column << ": ";
  if (!field.empty()) os << field << ": ";
  os << message;
  return os.str();
}

void yaml_to_proto(const YAML::Node& node, google::protobuf::Message* out, const std::string& file,
                   std::vector<Diagnostic>* diags) {
  Mapper(file, diags).message(node, out, "");
}

namespace {

// Still for this long, and unchanged across the read: not being written.
constexpr auto kSettle = std::chrono::milliseconds(200);
constexpr int kSettleTries = 15;  // about 3 s of an edit going on: reported, not guessed at

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
         a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

// Changed within kSettle of now, or "in the future" (the clock was stepped back).
bool recent(const struct stat& st) {
  struct timespec now {};
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t age_ms = (now.tv_sec - st.st_ctim.tv_sec) * 1000 + (now.tv_nsec - st.st_ctim.tv_nsec) / 1000000;
  return age_ms < kSettle.count();
}

std::string sha256_hex(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace

std::optional<std::string> read_settled(const std::string& path, std::vector<Diagnostic>* diags,
                                        std::string* sha256) {
  for (int i = 0; i < kSettleTries; ++i) {
    struct stat before {}, after {};
    if (::stat(path.c_str(), &before) != 0) break;
    if (recent(before)) {  // still being written? wait, and start over if it was
      std::this_thread::sleep_for(kSettle);
      if (::stat(path.c_str(), &after) != 0) break;
      if (!same_file(before, after)) continue;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) break;
    std::ostringstream ss;
    ss << in.rdbuf();
    if (::stat(path.c_str(), &after) != 0) break;
    if (!same_file(before, after)) continue;
    std::string text = ss.str();
    if (sha256) *sha256 = sha256_hex(text);
    return text;
  }
  struct stat st {};
  diags->push_back(Diagnostic{path, 0, 0, "", ::stat(path.c_str(), &st) != 0
                                                  ? "cannot read file"
                                                  : "the file changed while being read (an edit going on?); "
                                                    "reload again once it is saved"});
  return std::nullopt;
}

YAML::Node load_yaml_text(const std::string& text, const std::string& path, google::protobuf::Message* out,
                          std::vector<Diagnostic>* diags) {
  try {
    YAML::Node root = YAML::Load(text);
    yaml_to_proto(root, out, path, diags);
    return root;
  } catch (const YAML::Exception& e) {
    diags->push_back(Diagnostic{path, e.mark.line + 1, e.mark.column + 1, "", e.msg});
    return YAML::Node();
  }
}

void load_yaml_file(const std::string& path, google::protobuf::Message* out,
                    std::vector<Diagnostic>* diags) {
  if (auto text = read_settled(path, diags)) load_yaml_text(*text, path, out, diags);
}

Diagnostic diag_at(const YAML::Node& root, const std::string& file, const std::string& field,
                   std::string message) {
  // Node::operator= writes through to the node; reset() rebinds.
  YAML::Node n;
  n.reset(root);
  std::stringstream ss(field);
  std::string part;
  while (std::getline(ss, part, '.') && n.IsDefined()) {
    size_t br = part.find('[');
    std::string key = part.substr(0, br);
    if (n.IsMap()) {
      const YAML::Node& cn = n;
      if (cn[key]) n.reset(cn[key]);
    }
    if (br != std::string::npos && n.IsSequence()) {
      size_t idx = std::stoul(part.substr(br + 1));
      const YAML::Node& cn = n;
      if (idx < n.size()) n.reset(cn[idx]);
    }
  }
  const YAML::Mark m = n.Mark();
  return Diagnostic{file, m.line + 1, m.column + 1, field, std::move(message)};
}

}  // namespace fts::config
