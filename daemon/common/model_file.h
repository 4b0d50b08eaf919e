#pragma once
// What a model or checkpoint file is, by name: the loaders' conventions.
// checkpoint-code-exec watches the loads of the formats that run code when
// loaded; the ML-BOM lists every model file a run loaded.
#include <string_view>

namespace fts {

enum class ModelFormat {
  kNone,    // not a model file
  kPickle,  // torch.save / pickle / joblib: loading it can execute anything
  kSafe,    // weights only (safetensors, GGUF, ONNX): loading runs no code
};

// By the file's extension, case-insensitively: .pt .pth .bin .ckpt .pkl
// .pickle .joblib are pickle-based (HF's pytorch_model.bin is a torch zip);
// .safetensors .gguf .onnx are weights only.
ModelFormat model_format(std::string_view path);

}  // namespace fts
