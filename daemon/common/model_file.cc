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
};

constexpr std::array kExtensions{
    Extension{".pt", ModelFormat::kPickle},         Extension{".pth", ModelFormat::kPickle},
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
  for (const Extension& e : kExtensions)
    if (e.suffix == ext) return e.format;
  return ModelFormat::kNone;
}

}  // namespace fts
