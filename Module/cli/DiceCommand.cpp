// `ima dice`: voxel Dice per label between a predicted and a reference label map.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "ima/Error.h"
#include "ima/Metrics.h"

#include "Commands.h"
#include "ima/io/ImageFiles.h"

namespace ima::cli {

ArgumentParser diceParser() {
  ArgumentParser p("dice",
                   "Dice = 2TP / (2TP + FP + FN) per foreground label between two label images of the\n"
                   "same grid. A label absent from both images has Dice 1.");
  p.option("prediction", "FILE", "predicted label image", "", true)
      .option("reference", "FILE", "reference (ground truth) label image", "", true)
      .option("classes", "K", "number of classes including background (default: 1 + the largest label found)")
      .flag("json", "print the result as JSON")
      .epilog("example:\n  ima dice --prediction case_000_seg.nii.gz --reference data/labels/case_000.nii.gz");
  return p;
}

int runDice(const ArgumentParser& args) {
  const std::string predictionPath = args.get("prediction"), referencePath = args.get("reference");
  int classes = 0;
  if (args.given("classes")) {
    classes = args.getIntInRange("classes", 2, 256);
  }
  const LabelMap prediction = io::readLabelMap(predictionPath);
  const LabelMap reference = io::readLabelMap(referencePath);
  if (!(prediction.shape == reference.shape))
    throw Error("prediction '" + predictionPath + "' (" + prediction.shape.str() + ") and reference '" +
                referencePath + "' (" + reference.shape.str() + ") differ in size");
  if (!prediction.geometry.approximatelyEquals(reference.geometry))
    throw Error("prediction '" + predictionPath + "' and reference '" + referencePath +
                "' have the same size but different origin, spacing or direction");
  const int largest = std::max(
      prediction.data.empty() ? 0 : *std::max_element(prediction.data.begin(), prediction.data.end()),
      reference.data.empty() ? 0 : *std::max_element(reference.data.begin(), reference.data.end()));
  if (classes == 0) classes = std::max(2, largest + 1);
  if (largest >= classes)
    throw Error("label " + std::to_string(largest) + " found, but --classes " + std::to_string(classes) +
                " allows labels up to " + std::to_string(classes - 1));

  const auto counts = overlapCounts(prediction, reference, classes);
  double sum = 0;
  for (const auto& c : counts) sum += c.dice();
  const double mean = counts.empty() ? 0.0 : sum / static_cast<double>(counts.size());

  if (args.flagSet("json")) {
    nlohmann::json j;
    j["prediction"] = predictionPath;
    j["reference"] = referencePath;
    j["classes"] = classes;
    j["labels"] = nlohmann::json::array();
    for (size_t i = 0; i < counts.size(); ++i)
      j["labels"].push_back({{"label", i + 1}, {"dice", counts[i].dice()}, {"tp", counts[i].tp},
                             {"fp", counts[i].fp}, {"fn", counts[i].fn}});
    j["meanDice"] = mean;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%-6s %8s %12s %12s %12s\n", "label", "dice", "tp", "fp", "fn");
  for (size_t i = 0; i < counts.size(); ++i)
    std::printf("%-6zu %8.4f %12lld %12lld %12lld\n", i + 1, counts[i].dice(),
                static_cast<long long>(counts[i].tp), static_cast<long long>(counts[i].fp),
                static_cast<long long>(counts[i].fn));
  std::printf("%-6s %8.4f\n", "mean", mean);
  return 0;
}

}  // namespace ima::cli
