#pragma once
// What a model or checkpoint file is, by name: the loaders' conventions.
// checkpoint-code-exec watches the loads of the formats that run code when
// loaded; the ML-BOM lists every model file a run loaded.
#include <string_view>
#include <vector>

namespace fts {

enum class ModelFormat {
  kNone,    // not a model file
  kPickle,  // torch.save / pickle / joblib: loading it can execute anything
  kSafe,    // weights only (safetensors, GGUF, ONNX): loading runs no code
};

// By the file's extension, case-insensitively: .pt .pth .bin .ckpt .pkl
// .pickle .joblib are pickle-based (HF's pytorch_model.bin is a torch zip);
// .safetensors .gguf .onnx are weights only. A .pth directly in a
// "*-packages" directory is site.py's path file, not a model.
ModelFormat model_format(std::string_view path);

// "pickle" | "safe" | "" (kNone): the word events and alerts use.
const char* to_string(ModelFormat f);

// Does TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=`value` turn torch.load's
// weights-only default off? (torch: "1", "y", "yes", "true", any case.)
bool weights_only_disabled(std::string_view value);

// The extensions of one format, lower case with their dot (".pt"): what the
// kernel's model_exts map holds for kPickle; `not_in_packages`: the
// extension is not a model directly in a "*-packages" directory (.pth).
struct ModelExtension {
  std::string_view suffix;
  bool not_in_packages = false;
};
std::vector<ModelExtension> model_extensions(ModelFormat f);

}  // namespace fts
