// Everything a host hands the core to train a segmentation model (`ima train`, `ima batch harden`,
// the C API and Python over it, the Slicer module IMAHarden, itk::UNetTrainer): the cases, the
// checked loop options, where the model comes from, the patch and batch the user asked for, the
// files the run writes and the callbacks that report it. The host translates its own inputs into
// it; trainSegmentation (ima/TrainSegmentation.h) does the rest the same way on every route.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ima/LabelledCase.h"
#include "ima/Model.h"
#include "ima/NewModel.h"
#include "ima/Training.h"
#include "ima/TrainingSettings.h"

namespace ima {

// What the core resolved, reported once before the first epoch (after a resume).
struct SegmentationTrainingStart {
  // The model being trained: its metadata (labels, patch size, provenance) is final; it shares
  // its network with the training, so after a cancellation it holds the weights reached so far.
  const Model& model;
  const TrainingOptions& options;  // with the resolved patch and batch
  int completedEpochs = 0;         // > 0 when resumed from a checkpoint
};

struct SegmentationTrainingRequest {
  // The cases are referenced, not copied (volumes are large); they must outlive the call.
  const std::vector<LabelledCase>* training = nullptr;
  const std::vector<LabelledCase>* validation = nullptr;  // may be null or empty

  // The loop: trainingOptionsOf(the host's TrainingSettings), checked where the host reads its
  // settings, plus what TrainingSettings does not hold (runtime, checkpoint and log paths, loop
  // constants, communicator). Its patchSize and batchSize are replaced by the resolved ones below.
  TrainingOptions options;

  // The model to start from (--init, fine-tuning, batch harden): its architecture, labels and
  // normalisation are kept and its network is trained in place (pass a clone() to keep the
  // original). Unset: a new U-Net from `newModel`, built by newModelMetadata for the cases.
  std::optional<Model> startFrom;
  NewModelSettings newModel;
  std::string resumeFrom;  // a checkpoint of the same run to continue from; empty: none

  // The user's patch (voxels, ITK order) and batch; empty / 0: the core's defaults
  // (trainingPatchSize, defaultBatchSize).
  std::vector<int64_t> patchSize;
  int batchSize = 0;  // 1..4096, 0 = default

  // Provenance recorded in the model. The core writes "created", "software" ("IMASegmentation
  // <version> (<host>)"), "training_cases" and "validation_cases" (case ids; left to the host when
  // options.casesShardedAcrossProcesses), "initialized_from" (`startedFrom`, when starting from a
  // model) and "resumed_from"; the keys of `provenanceJson` (a JSON object) are added over them.
  std::string host;
  std::string startedFrom;
  std::string provenanceJson;

  // How the host spells setting keys in messages (see TrainingSettings.h; here also dims,
  // features, max_features, stages, norm, classes, labels_names, patch_size, batch_size).
  SettingName settingName;

  std::function<void(const SegmentationTrainingStart&)> onStart;
  EpochCallback onEpoch;
  ProgressCallback progress;
};

}  // namespace ima
