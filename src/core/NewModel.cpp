#include "ima/NewModel.h"

#include <algorithm>
#include <cmath>

#include "ima/Error.h"
#include "ima/Training.h"
#include "internal/SettingChecker.h"

namespace ima {

std::array<uint8_t, 3> labelColor(int index) {
  static const std::array<uint8_t, 3> palette[] = {
      {230, 25, 75}, {60, 180, 75}, {0, 130, 200}, {255, 225, 25}, {245, 130, 48}, {145, 30, 180},
      {70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {250, 190, 212}, {0, 128, 128}, {170, 110, 40}};
  constexpr int kPalette = sizeof(palette) / sizeof(palette[0]);
  if (index < kPalette) return palette[index];
  const double h = std::fmod(index * 137.508, 360.0) / 60.0;
  const double x = 1.0 - std::fabs(std::fmod(h, 2.0) - 1.0);
  double r = 0, g = 0, b = 0;
  switch (static_cast<int>(h)) {
    case 0: r = 1, g = x; break;
    case 1: r = x, g = 1; break;
    case 2: g = 1, b = x; break;
    case 3: g = x, b = 1; break;
    case 4: r = x, b = 1; break;
    default: r = 1, b = x; break;
  }
  auto byte = [](double v) { return static_cast<uint8_t>(std::lround(40 + 200 * v)); };
  return {byte(r), byte(g), byte(b)};
}

ModelMetadata newModelMetadata(const NewModelSettings& settings, const std::vector<LabelledCase>& cases,
                               const SettingName& name) {
  const internal::Checker check(name);
  if (cases.empty()) throw Error("no training cases to build a model for");
  const bool all3D =
      std::all_of(cases.begin(), cases.end(), [](const LabelledCase& c) { return c.image.shape.dims() == 3; });

  ModelMetadata m;
  NetworkSpec& net = m.network;
  net.kind = "unet";
  net.dims = settings.dims ? check.count("dims", *settings.dims, 2, 3) : (all3D ? 3 : 2);
  net.baseFeatures = check.count("features", settings.baseFeatures, 1, 1024);
  net.maxFeatures = settings.maxFeatures ? check.count("max_features", *settings.maxFeatures, 1, 4096)
                                         : std::max(net.baseFeatures, net.dims == 3 ? 320 : 512);
  net.stages = check.count("stages", settings.stages, 1, 8);
  net.norm = check.choice("norm", settings.norm, {"instance", "batch", "none"});
  if (settings.labelNames.size() > 255)
    check.fail("labels_names", std::to_string(settings.labelNames.size()) + " names", "at most 255");

  net.inChannels = cases.front().image.channels;
  int maxLabel = 0;
  const LabelledCase* maxLabelCase = &cases.front();
  for (const LabelledCase& c : cases) {
    if (c.image.channels != net.inChannels)
      throw Error("training case '" + c.id + "' has " + std::to_string(c.image.channels) + " channel(s) but '" +
                  cases.front().id + "' has " + std::to_string(net.inChannels));
    if (net.dims == 3 && c.image.shape.dims() != 3)
      throw Error("training case '" + c.id + "' is 2D but " + check.name("dims") + " is 3");
    for (uint8_t v : c.labels.data)
      if (v > maxLabel) {
        maxLabel = v;
        maxLabelCase = &c;
      }
  }
  if (maxLabel == 0) throw Error("the label maps contain no foreground (every voxel of every case is 0)");

  if (settings.classes) {
    net.classes = check.count("classes", *settings.classes, 2, 256);
    if (!settings.labelNames.empty() && static_cast<int>(settings.labelNames.size()) != net.classes - 1)
      check.fail("labels_names", std::to_string(settings.labelNames.size()) + " names",
                 std::to_string(net.classes - 1) + " for " + std::to_string(net.classes) + " classes");
  } else {
    net.classes = settings.labelNames.empty() ? maxLabel + 1 : static_cast<int>(settings.labelNames.size()) + 1;
  }
  if (maxLabel >= net.classes)
    throw Error("training case '" + maxLabelCase->id + "' contains label " + std::to_string(maxLabel) + " but " +
                (settings.labelNames.empty() ? check.name("classes") + " is " + std::to_string(net.classes)
                                             : check.name("labels_names") + " names only " +
                                                   std::to_string(settings.labelNames.size()) + " label(s)"));

  for (int k = 1; k < net.classes; ++k) {
    LabelInfo info;
    info.value = k;
    info.name = settings.labelNames.empty() ? "label " + std::to_string(k) : settings.labelNames[k - 1];
    info.color = labelColor(k - 1);
    m.labels.push_back(info);
  }
  m.normalization = settings.normalization;
  return m;
}

}  // namespace ima
