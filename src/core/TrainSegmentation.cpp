#include "ima/TrainSegmentation.h"

#include <ctime>

#include <nlohmann/json.hpp>

#include "ima/Communicator.h"
#include "ima/Error.h"
#include "ima/PatchSize.h"
#include "internal/SettingChecker.h"

namespace ima {
namespace {

const std::vector<LabelledCase> kNoCases;

// "2026-12-03T10:00:00Z".
std::string utcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::string provenanceJson(const SegmentationTrainingRequest& r, const std::vector<LabelledCase>& training,
                           const std::vector<LabelledCase>& validation) {
  nlohmann::json p = {{"created", utcNow()},
                      {"software", std::string("IMASegmentation ") + IMA_VERSION_STRING +
                                       (r.host.empty() ? "" : " (" + r.host + ")")}};
  // Sharded across processes, each holds only its own cases: the host names them all.
  if (!r.options.casesShardedAcrossProcesses) {
    p["training_cases"] = nlohmann::json::array();
    p["validation_cases"] = nlohmann::json::array();
    for (const LabelledCase& c : training) p["training_cases"].push_back(c.id);
    for (const LabelledCase& c : validation) p["validation_cases"].push_back(c.id);
  }
  if (r.startFrom && !r.startedFrom.empty()) p["initialized_from"] = r.startedFrom;
  if (!r.resumeFrom.empty()) p["resumed_from"] = r.resumeFrom;
  if (!r.provenanceJson.empty()) {
    const auto own = nlohmann::json::parse(r.provenanceJson, nullptr, false);
    if (!own.is_object()) throw Error("the host's provenance is not a JSON object");
    for (const auto& [key, value] : own.items()) p[key] = value;
  }
  return p.dump();
}

// Each process of a sharded run resolves the default patch from its own cases; they must agree.
void checkSamePatchOnEveryProcess(const TrainingOptions& options, const SettingName& name) {
  if (!options.communicator || !options.casesShardedAcrossProcesses) return;
  const auto patches = options.communicator->allGather(nlohmann::json(options.patchSize).dump());
  for (const auto& p : patches)
    if (p != patches.front())
      throw Error("the processes' shards give different default patch sizes (" + patches.front() + " on rank 0, " +
                  p + " elsewhere); give " + internal::Checker(name).name("patch_size"));
}

}  // namespace

Model trainSegmentation(const SegmentationTrainingRequest& r) {
  if (!r.training) throw Error("trainSegmentation: no training cases given");
  const std::vector<LabelledCase>& training = *r.training;
  const std::vector<LabelledCase>& validation = r.validation ? *r.validation : kNoCases;

  ModelMetadata metadata = r.startFrom ? r.startFrom->metadata() : newModelMetadata(r.newModel, training, r.settingName);
  TrainingOptions options = r.options;
  options.patchSize = trainingPatchSize(r.patchSize, metadata.network,
                                        r.startFrom ? metadata.patchSize : std::vector<int64_t>{}, training,
                                        r.settingName);
  options.batchSize = r.batchSize == 0 ? defaultBatchSize(metadata.network.dims)
                                       : internal::Checker(r.settingName).count("batch_size", r.batchSize, 1, 4096);
  checkSamePatchOnEveryProcess(options, r.settingName);
  metadata.patchSize = options.patchSize;
  metadata.provenanceJson = provenanceJson(r, training, validation);

  // The cases are checked against the model once, by run(), before the first iteration.
  Model model = r.startFrom ? Model(metadata, r.startFrom->network()) : Model::create(metadata, options.seed);
  SegmentationTrainer trainer(std::move(model), options);
  if (!r.resumeFrom.empty()) trainer.resumeFrom(r.resumeFrom, r.settingName);
  if (r.onStart) r.onStart({trainer.model(), options, trainer.completedEpochs()});
  return trainer.run(training, validation, r.onEpoch, r.progress);
}

}  // namespace ima
