// Model files by name: what checkpoint-code-exec watches and the ML-BOM lists.
#include "common/model_file.h"

#include <gtest/gtest.h>

namespace fts {
namespace {

TEST(ModelFormat, PickleBasedCheckpointsRunCodeWhenLoaded) {
  EXPECT_EQ(model_format("/ckpt/step-100/model.pt"), ModelFormat::kPickle);
  EXPECT_EQ(model_format("/models/llama/pytorch_model.bin"), ModelFormat::kPickle);
  EXPECT_EQ(model_format("/x/opt.PTH"), ModelFormat::kPickle) << "case-insensitive";
  EXPECT_EQ(model_format("last.ckpt"), ModelFormat::kPickle);
  EXPECT_EQ(model_format("/x/clf.joblib"), ModelFormat::kPickle);
}

TEST(ModelFormat, WeightsOnlyFormatsAreModelsThatRunNoCode) {
  EXPECT_EQ(model_format("/models/m/model-00001-of-00002.safetensors"), ModelFormat::kSafe);
  EXPECT_EQ(model_format("/m/q4.gguf"), ModelFormat::kSafe);
}

TEST(ModelFormat, OtherFilesAreNotModels) {
  EXPECT_EQ(model_format("/data/shard-0.npy"), ModelFormat::kNone);
  EXPECT_EQ(model_format("/data/train.jsonl"), ModelFormat::kNone);
  EXPECT_EQ(model_format("/ckpt/.pt"), ModelFormat::kNone) << "a dotfile named .pt has no extension";
  EXPECT_EQ(model_format("/a.pt/readme"), ModelFormat::kNone) << "the directory's name does not count";
  EXPECT_EQ(model_format(""), ModelFormat::kNone);
}

TEST(ModelFormat, SitePathFilesAreNotModels) {
  // site.py reads every .pth in site-packages at interpreter start
  EXPECT_EQ(model_format("/usr/lib/python3/dist-packages/distutils-precedence.pth"), ModelFormat::kNone);
  EXPECT_EQ(model_format("/venv/lib/python3.11/site-packages/x.pth"), ModelFormat::kNone);
  EXPECT_EQ(model_format("/venv/lib/python3.11/site-packages/pkg/weights.pth"), ModelFormat::kPickle);
  EXPECT_EQ(model_format("/ckpt/resnet.pth"), ModelFormat::kPickle);
  EXPECT_EQ(model_format("/ckpt/dist-packages.pt"), ModelFormat::kPickle);
}

TEST(ModelFormat, TheKernelGetsThePickleExtensions) {
  std::vector<std::string> got;
  for (const ModelExtension& e : model_extensions(ModelFormat::kPickle))
    got.push_back(std::string(e.suffix) + (e.not_in_packages ? "!" : ""));
  EXPECT_EQ(got, (std::vector<std::string>{".pt", ".pth!", ".bin", ".ckpt", ".pkl", ".pickle", ".joblib"}));
  EXPECT_STREQ(to_string(ModelFormat::kPickle), "pickle");
  EXPECT_TRUE(weights_only_disabled("YES"));
  EXPECT_FALSE(weights_only_disabled("0"));
}

}  // namespace
}  // namespace fts
