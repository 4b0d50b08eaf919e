#include "common/model_file.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace fts {
namespace {

struct Extension {
  std::string_view suffix;
  ModelFormat format;
  bool not_in_packages = false;  // site.py's .pth path files live in site-packages
};

constexpr std::array kExtensions{
    Extension{".pt", ModelFormat::kPickle},         Extension{".pth", ModelFormat::kPickle, true},
    Extension{".bin", ModelFormat::kPickle},        Extension{".ckpt", ModelFormat::kPickle},
    Extension{".pkl", ModelFormat::kPickle},        Extension{".pickle", ModelFormat::kPickle},
    Extension{".joblib", ModelFormat::kPickle},     Extension{".safetensors", ModelFormat::kSafe},
    Extension{".gguf", ModelFormat::kSafe},         Extension{".onnx", ModelFormat::kSafe},
};

}  // namespace

ModelFormat model_format(std::string_view path) {
  size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  size_t dot = base.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return ModelFormat::kNone;
  std::string ext(base.substr(dot));
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const Extension& e : kExtensions) {
    if (e.suffix != ext) continue;
    if (e.not_in_packages && slash != std::string_view::npos) {
      std::string_view dir = path.substr(0, slash);
      std::string_view leaf = dir.substr(dir.rfind('/') == std::string_view::npos ? 0 : dir.rfind('/') + 1);
      if (leaf.size() >= 9 && leaf.substr(leaf.size() - 9) == "-packages") return ModelFormat::kNone;
    }
    return e.format;
  }
  return ModelFormat::kNone;
}

bool weights_only_disabled(std::string_view value) {
  std::string v(value);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v == "1" || v == "y" || v == "yes" || v == "true";
}

const char* to_string(ModelFormat f) {
  switch (f) {
    case ModelFormat::kPickle: return "pickle";
    case ModelFormat::kSafe: return "safe";
    case ModelFormat::kNone: break;
  }
  return "";
}

std::vector<ModelExtension> model_extensions(ModelFormat f) {
  std::vector<ModelExtension> out;
  for (const Extension& e : kExtensions)
    if (e.format == f) out.push_back({e.suffix, e.not_in_packages});
  return out;
}

}  // namespace fts
