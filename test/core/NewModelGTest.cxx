// The one builder of a new model's metadata (ima::newModelMetadata) and of the training patch and
// batch (ima/PatchSize.h) that every host uses. Oracles: metadata written out by hand for small
// cases (features rule of nnU-Net's PlainConvUNet: 320 in 3D, 512 in 2D; label values 1..max),
// and the documented refusals, each naming the setting as the host spells it.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "ima/NewModel.h"
#include "ima/PatchSize.h"
#include "ima/Training.h"

namespace NewModelGTest {  // this file's names apart from the others' in a unity build

namespace {

ima::LabelledCase makeCase(const std::string& id, std::vector<int64_t> size, uint8_t label, int channels = 1) {
  ima::LabelledCase c;
  c.id = id;
  c.image.shape.size = size;
  c.image.channels = channels;
  c.image.data.assign(static_cast<size_t>(channels * c.image.shape.voxels()), 0.5f);
  c.labels.shape.size = size;
  c.labels.data.assign(static_cast<size_t>(c.labels.shape.voxels()), 0);
  c.labels.data[0] = label;
  return c;
}

std::string messageOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const ima::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(NewModel, ThreeDimensionalCasesGiveANamedColouredThreeDimensionalUNet) {
  const std::vector<ima::LabelledCase> cases{makeCase("a", {8, 8, 8}, 1), makeCase("b", {8, 8, 8}, 3)};
  const ima::ModelMetadata m = ima::newModelMetadata({}, cases);
  EXPECT_EQ(m.network.kind, "unet");
  EXPECT_EQ(m.network.dims, 3);          // every case is 3D
  EXPECT_EQ(m.network.inChannels, 1);
  EXPECT_EQ(m.network.classes, 4);       // background + labels 1..3
  EXPECT_EQ(m.network.baseFeatures, 32);
  EXPECT_EQ(m.network.maxFeatures, 320); // nnU-Net's 3D cap
  EXPECT_EQ(m.network.stages, 4);
  EXPECT_EQ(m.network.norm, "instance");
  ASSERT_EQ(m.labels.size(), 3u);
  std::set<std::array<uint8_t, 3>> colours;
  for (int k = 1; k <= 3; ++k) {
    EXPECT_EQ(m.labels[k - 1].value, k);
    EXPECT_EQ(m.labels[k - 1].name, "label " + std::to_string(k));
    colours.insert(m.labels[k - 1].color);
  }
  EXPECT_EQ(colours.size(), 3u);  // distinct colours, not one colour for all
  EXPECT_TRUE(m.patchSize.empty());
}

TEST(NewModel, MixedDimensionsTrainOnSlicesAndNamesFixTheClasses) {
  ima::NewModelSettings s;
  s.labelNames = {"organ", "lesion"};
  s.baseFeatures = 600;  // above the 2D cap: the cap rises to it
  const std::vector<ima::LabelledCase> cases{makeCase("a", {8, 8, 8}, 1), makeCase("b", {8, 8}, 1)};
  const ima::ModelMetadata m = ima::newModelMetadata(s, cases);
  EXPECT_EQ(m.network.dims, 2);
  EXPECT_EQ(m.network.maxFeatures, 600);
  EXPECT_EQ(m.network.classes, 3);  // two names, although only label 1 occurs
  ASSERT_EQ(m.labels.size(), 2u);
  EXPECT_EQ(m.labels[0].name, "organ");
  EXPECT_EQ(m.labels[1].name, "lesion");
  EXPECT_EQ(m.labels[1].color, ima::labelColor(1));
  s.baseFeatures = 16;
  EXPECT_EQ(ima::newModelMetadata(s, cases).network.maxFeatures, 512);  // nnU-Net's 2D cap
}

TEST(NewModel, DataThatCannotTrainTheModelIsRefusedNamingTheCase) {
  const auto spelt = [](const std::string& key) { return "--" + ima::kebabCase(key); };
  EXPECT_EQ(messageOf([&] { ima::newModelMetadata({}, {makeCase("a", {4, 4}, 0), makeCase("b", {4, 4}, 0)}); }),
            "the label maps contain no foreground (every voxel of every case is 0)");
  ima::NewModelSettings named;
  named.labelNames = {"organ"};
  EXPECT_EQ(messageOf([&] { ima::newModelMetadata(named, {makeCase("a", {4, 4}, 0)}); }),
            "the label maps contain no foreground (every voxel of every case is 0)");
  EXPECT_EQ(messageOf([&] { ima::newModelMetadata(named, {makeCase("a", {4, 4}, 1), makeCase("b", {4, 4}, 2)}, spelt); }),
            "training case 'b' contains label 2 but --labels-names names only 1 label(s)");
  EXPECT_EQ(messageOf([&] { ima::newModelMetadata({}, {makeCase("a", {4, 4}, 1), makeCase("b", {4, 4}, 1, 2)}); }),
            "training case 'b' has 2 channel(s) but 'a' has 1");
  ima::NewModelSettings threeD;
  threeD.dims = 3;
  EXPECT_EQ(messageOf([&] { ima::newModelMetadata(threeD, {makeCase("a", {4, 4}, 1)}, spelt); }),
            "training case 'a' is 2D but --dims is 3");
  ima::NewModelSettings classes;
  classes.classes = 2;
  EXPECT_EQ(messageOf([&] { ima::newModelMetadata(classes, {makeCase("a", {4, 4}, 2)}); }),
            "training case 'a' contains label 2 but classes is 2");
  EXPECT_EQ(messageOf([&] { ima::newModelMetadata({}, {}); }), "no training cases to build a model for");
}

TEST(NewModel, BadSettingsNameTheSettingAndValue) {
  const auto spelt = [](const std::string& key) { return "options." + key; };
  const std::vector<ima::LabelledCase> cases{makeCase("a", {4, 4}, 1)};
  const auto rejected = [&](ima::NewModelSettings s, const std::string& key, const std::string& message) {
    try {
      ima::newModelMetadata(s, cases, spelt);
      ADD_FAILURE() << "accepted a bad " << key;
    } catch (const ima::InvalidTrainingSetting& e) {
      EXPECT_EQ(e.key(), key);
      EXPECT_EQ(std::string(e.what()), message);
    }
  };
  ima::NewModelSettings s;
  s.dims = 4;
  rejected(s, "dims", "options.dims is 4 (expected 2..3)");
  s = {};
  s.baseFeatures = 0;
  rejected(s, "features", "options.features is 0 (expected 1..1024)");
  s = {};
  s.stages = 9;
  rejected(s, "stages", "options.stages is 9 (expected 1..8)");
  s = {};
  s.norm = "group";
  rejected(s, "norm", "options.norm is 'group' (expected one of instance, batch, none)");
  s = {};
  s.classes = 257;
  rejected(s, "classes", "options.classes is 257 (expected 2..256)");
  s = {};
  s.classes = 3;
  s.labelNames = {"organ"};
  rejected(s, "labels_names", "options.labels_names is 1 names (expected 2 for 3 classes)");
}

TEST(PatchSize, ARequestTheModelsPatchOrTheDefault) {
  ima::NetworkSpec net;
  net.dims = 2;
  net.stages = 3;  // multiples of 4
  const std::vector<ima::LabelledCase> cases{makeCase("a", {30, 23, 5}, 1), makeCase("b", {40, 19, 5}, 1)};
  // Default: the smallest case's whole slice rounded down to multiples of 4: 30 -> 28, 19 -> 16.
  EXPECT_EQ(ima::trainingPatchSize({}, net, {}, cases), (std::vector<int64_t>{28, 16}));
  EXPECT_EQ(ima::trainingPatchSize({}, net, {12, 8}, cases), (std::vector<int64_t>{12, 8}));        // the model's
  EXPECT_EQ(ima::trainingPatchSize({}, net, {12, 8, 4}, cases), (std::vector<int64_t>{28, 16}));    // wrong dims
  EXPECT_EQ(ima::trainingPatchSize({8, 4}, net, {12, 8}, cases), (std::vector<int64_t>{8, 4}));     // requested
  net.dims = 3;
  EXPECT_EQ(ima::trainingPatchSize({}, net, {}, {makeCase("c", {100, 70, 9}, 1)}),
            (std::vector<int64_t>{64, 64, 8}));  // at most 64 per axis in 3D
  EXPECT_EQ(ima::defaultBatchSize(3), 2);
  EXPECT_EQ(ima::defaultBatchSize(2), 8);
}

TEST(PatchSize, BadRequestsNameTheSetting) {
  ima::NetworkSpec net;
  net.dims = 2;
  net.stages = 2;
  const auto spelt = [](const std::string&) { return std::string("--patch"); };
  const std::vector<ima::LabelledCase> cases{makeCase("a", {8, 8}, 1)};
  EXPECT_EQ(messageOf([&] { ima::trainingPatchSize({0, 0}, net, {}, cases, spelt); }),
            "--patch is 0,0 (expected positive multiples of 2^(stages-1) = 2, at most 4096)");
  EXPECT_EQ(messageOf([&] { ima::trainingPatchSize({3, 4}, net, {}, cases, spelt); }),
            "--patch is 3,4 (expected positive multiples of 2^(stages-1) = 2, at most 4096)");
  EXPECT_EQ(messageOf([&] { ima::trainingPatchSize({65536, 65536}, net, {}, cases, spelt); }),
            "--patch is 65536,65536 (expected positive multiples of 2^(stages-1) = 2, at most 4096)");
  EXPECT_EQ(messageOf([&] { ima::trainingPatchSize({4, 4, 4}, net, {}, cases, spelt); }),
            "--patch is 4,4,4 (expected 2 sizes for a 2D network)");
}

}  // namespace

}  // namespace NewModelGTest
