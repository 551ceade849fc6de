#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <torch/script.h>

#include "TestModels.h"
#include "ima/Error.h"
#include "ima/Model.h"
#include "ima/Network.h"
#include "ima/SlidingWindowInferer.h"
#include "ima/UNet.h"

namespace ModelFileGTest {  // this file's names apart from the others' in a unity build

namespace fs = std::filesystem;

namespace {

class ModelFile : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ima_modelfile_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static std::string readAll(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void writeAll(const std::string& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary);
    out << bytes;
  }
  static void expectErrorContaining(const std::function<void()>& f, const std::string& fragment) {
    try {
      f();
      FAIL() << "expected an error containing '" << fragment << "'";
    } catch (const ima::Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }

  fs::path dir_;
};

ima::InferenceOptions cpu() {
  ima::InferenceOptions o;
  o.runtime.device = "cpu";
  return o;
}

TEST_F(ModelFile, SaveLoadRoundTripGivesIdenticalOutputs) {
  for (int dims : {2, 3}) {
    auto meta = imatest::tinyUNetMetadata(dims, 2, 3);
    meta.network.norm = "batch";  // buffers (running statistics) must survive too
    meta.normalization.kind = ima::Normalization::Kind::CTWindow;
    meta.normalization.windowLow = -50;
    meta.labels[1].name = "lesion";
    const auto model = ima::Model::create(meta, 21);
    model.save(path("m.imamodel"));
    const auto loaded = ima::Model::load(path("m.imamodel"));
    EXPECT_EQ(loaded.metadata().toJson(), model.metadata().toJson());
    EXPECT_EQ(loaded.metadata().labelName(2), "lesion");
    const auto volume = imatest::randomVolume(dims == 3 ? std::vector<int64_t>{20, 17, 9} : std::vector<int64_t>{20, 17}, 2, 2);
    const auto a = ima::segment(model, volume, cpu(), {}, true);
    const auto b = ima::segment(loaded, volume, cpu(), {}, true);
    EXPECT_EQ(a.probabilities.data, b.probabilities.data);
    EXPECT_EQ(ima::readModelMetadata(path("m.imamodel")).toJson(), meta.toJson());
  }
}

// A copy of a Model is a handle on the same network; clone() copies the weights (and BatchNorm
// buffers): equal outputs at first, then a change to the clone leaves the original alone.
TEST_F(ModelFile, CloneCopiesTheWeightsWhileACopySharesThem) {
  auto meta = imatest::tinyUNetMetadata(2, 1, 3);
  meta.network.norm = "batch";
  const auto model = ima::Model::create(meta, 5);
  const ima::Model shared = model;
  const ima::Model cloned = model.clone();
  EXPECT_EQ(shared.network(), model.network());
  EXPECT_NE(cloned.network(), model.network());
  EXPECT_EQ(cloned.metadata().toJson(), model.metadata().toJson());
  const auto volume = imatest::randomVolume({16, 12}, 1, 3);
  EXPECT_EQ(ima::segment(cloned, volume, cpu(), {}, true).probabilities.data,
            ima::segment(model, volume, cpu(), {}, true).probabilities.data);
  const auto before = ima::segment(model, volume, cpu(), {}, true).probabilities.data;
  {
    torch::NoGradGuard noGrad;
    for (auto& p : cloned.network()->parameters()) p.add_(0.5);
  }
  EXPECT_NE(ima::segment(cloned, volume, cpu(), {}, true).probabilities.data, before);
  EXPECT_EQ(ima::segment(model, volume, cpu(), {}, true).probabilities.data, before);
}

TEST_F(ModelFile, NoTemporaryFileIsLeftBehind) {
  ima::Model::create(imatest::tinyUNetMetadata(2), 1).save(path("m.imamodel"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(ModelFile, CorruptTruncatedForeignAndMissingFilesAreClearErrors) {
  ima::Model::create(imatest::tinyUNetMetadata(2), 1).save(path("m.imamodel"));
  const std::string bytes = readAll(path("m.imamodel"));
  std::string corrupt = bytes;
  corrupt[bytes.size() / 2] = static_cast<char>(corrupt[bytes.size() / 2] ^ 0x5a);
  writeAll(path("corrupt.imamodel"), corrupt);
  expectErrorContaining([&] { ima::Model::load(path("corrupt.imamodel")); }, "corrupt.imamodel' is corrupt");
  writeAll(path("truncated.imamodel"), bytes.substr(0, bytes.size() - 100));
  expectErrorContaining([&] { ima::Model::load(path("truncated.imamodel")); }, "truncated");
  writeAll(path("tiny.imamodel"), bytes.substr(0, 10));
  expectErrorContaining([&] { ima::Model::load(path("tiny.imamodel")); }, "truncated");
  writeAll(path("foreign.imamodel"), "PK\x03\x04 this is a zip file");
  expectErrorContaining([&] { ima::Model::load(path("foreign.imamodel")); }, "not an IMASegmentation model");
  expectErrorContaining([&] { ima::Model::load(path("missing.imamodel")); }, "missing.imamodel' cannot be opened");
}

TEST_F(ModelFile, NewerFormatVersionIsRejectedWithBothVersions) {
  auto meta = imatest::tinyUNetMetadata(2);
  meta.formatVersion = ima::kModelFormatVersion + 1;
  ima::Model(meta, ima::Model::create(imatest::tinyUNetMetadata(2), 1).network()).save(path("new.imamodel"));
  expectErrorContaining([&] { ima::Model::load(path("new.imamodel")); }, "format version 2 is not supported");
}

TEST_F(ModelFile, WeightsThatDoNotFitTheDeclaredNetworkAreNamed) {
  // Metadata says 2 input channels, weights were made for 1: the first conv's shape mismatches.
  auto meta1 = imatest::tinyUNetMetadata(2, 1, 3);
  auto meta2 = imatest::tinyUNetMetadata(2, 2, 3);
  ima::Model(meta2, ima::Model::create(meta1, 1).network()).save(path("mismatch.imamodel"));
  expectErrorContaining([&] { ima::Model::load(path("mismatch.imamodel")); }, "encoder0.0.weight' has shape");
}

TEST_F(ModelFile, ChannelMismatchAtInferenceIsAClearError) {
  const auto model = ima::Model::create(imatest::tinyUNetMetadata(3, 2, 3), 1);
  expectErrorContaining([&] { ima::segment(model, imatest::randomVolume({16, 16, 8}, 1, 1), cpu()); },
                        "input has 1 channel(s) but the model expects 2");
}

// A TorchScript module written in C++ (as a MONAI/nnU-Net export would be in Python): a 1x1
// convolution. Imported with a sidecar, it segments exactly like the same computation by hand.
torch::jit::Module scriptedPointwise(int in, int classes) {
  torch::jit::Module m("Pointwise");
  torch::manual_seed(4);
  m.register_parameter("weight", torch::randn({classes, in, 1, 1}), false);
  m.register_parameter("bias", torch::randn({classes}), false);
  m.define(R"(
    def forward(self, x):
        return torch.conv2d(x, self.weight, self.bias)
  )");
  return m;
}

TEST_F(ModelFile, TorchScriptImportWithSidecarSegmentsAndSurvivesSaveLoad) {
  auto script = scriptedPointwise(1, 3);
  script.save(path("net.pt"));
  auto meta = imatest::tinyUNetMetadata(2, 1, 3);
  meta.network.kind = "torchscript";
  writeAll(path("net.json"), meta.toJson());
  const auto model = ima::Model::importTorchScript(path("net.pt"), path("net.json"));
  EXPECT_EQ(model.metadata().network.kind, "torchscript");
  auto volume = imatest::randomVolume({16, 16}, 1, 3);
  auto options = cpu();
  options.wholeImage = true;
  const auto r = ima::segment(model, volume, options, {}, true);
  // Oracle: z-score the image, apply the 1x1 conv and softmax directly.
  const auto t = torch::from_blob(volume.data.data(), {1, 1, 16, 16}).clone();
  const auto z = (t - t.mean()) / t.std(/*unbiased=*/false);
  const auto expected = torch::softmax(torch::conv2d(z, script.attr("weight").toTensor(), script.attr("bias").toTensor()), 1);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 256; ++i)
      ASSERT_NEAR(r.probabilities.channel(c)[i], expected[0][c].flatten()[i].item<float>(), 1e-5);
  model.save(path("imported.imamodel"));
  const auto reloaded = ima::Model::load(path("imported.imamodel"));
  EXPECT_EQ(ima::segment(reloaded, volume, options, {}, true).probabilities.data, r.probabilities.data);
}

TEST_F(ModelFile, TorchScriptSidecarThatDisagreesIsAClearError) {
  scriptedPointwise(1, 3).save(path("net.pt"));
  writeAll(path("classes.json"), imatest::tinyUNetMetadata(2, 1, 4).toJson());
  expectErrorContaining([&] { ima::Model::importTorchScript(path("net.pt"), path("classes.json")); },
                        "returns 3 output channel(s) but the metadata declares 4 classes");
  writeAll(path("channels.json"), imatest::tinyUNetMetadata(2, 2, 3).toJson());
  expectErrorContaining([&] { ima::Model::importTorchScript(path("net.pt"), path("channels.json")); },
                        "rejects input of 2 channel(s)");
  writeAll(path("broken.json"), "{\"network\": ");
  expectErrorContaining([&] { ima::Model::importTorchScript(path("net.pt"), path("broken.json")); }, "not valid JSON");
  writeAll(path("garbage.pt"), "not a torchscript archive");
  expectErrorContaining([&] { ima::Model::importTorchScript(path("garbage.pt"), path("channels.json")); },
                        "garbage.pt' cannot be loaded");
}

// `ima export --state-dict`: every parameter and buffer of the U-Net under the name libtorch's
// own recursive named_parameters()/named_buffers() gives it (the names of Python's state_dict()),
// with equal values, read back with torch's unpickler; the metadata travels along.
TEST_F(ModelFile, StateDictExportHoldsEveryTensorUnderItsModuleName) {
  auto meta = imatest::tinyUNetMetadata(3);
  meta.network.norm = "batch";
  const auto model = ima::Model::create(meta, 5);
  model.exportStateDict(path("unet.pt"));
  const std::string bytes = readAll(path("unet.pt"));
  const auto file = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
  EXPECT_EQ(file.at("metadata").toStringRef(), model.metadata().toJson(2));
  const auto stored = file.at("state_dict").toGenericDict();
  auto& unet = *dynamic_cast<ima::UNetNetwork&>(*model.network()).module();
  size_t expected = 0;
  for (const auto& named : {unet.named_parameters(), unet.named_buffers()})
    for (const auto& t : named) {
      ++expected;
      ASSERT_TRUE(stored.contains(t.key())) << t.key();
      EXPECT_TRUE(torch::equal(stored.at(t.key()).toTensor(), t.value())) << t.key();
    }
  EXPECT_EQ(stored.size(), expected);
  EXPECT_TRUE(stored.contains("encoder1.1.running_var"));  // BatchNorm statistics are included
  expectErrorContaining([&] { model.exportTorchScript(path("unet-ts.pt")); }, "export its state dict instead");
  EXPECT_FALSE(fs::exists(path("unet-ts.pt")));
}

}  // namespace

}  // namespace ModelFileGTest
