// The core's one entry point for training a segmentation model: every host translates its inputs
// into a SegmentationTrainingRequest and calls it, so new-model metadata, patch and batch, the
// checks of the cases, provenance, resume and the training loop are the same on every route.
#pragma once
#include "ima/Model.h"
#include "ima/SegmentationTrainingRequest.h"

namespace ima {

// Builds the model (request.startFrom, else newModelMetadata for the training cases), resolves the
// patch (trainingPatchSize) and the batch (defaultBatchSize), records the provenance, resumes from
// request.resumeFrom, calls request.onStart and trains until request.options.epochs epochs are
// done. Returns the trained model; writing it is the host's (Model::save writes atomically), as
// hosts write it differently (the command line's rank 0 only, the ITK layer on SaveModel()).
// Throws InvalidTrainingSetting (named with request.settingName) for a bad new-model setting,
// patch or batch; ima::Error naming the case for cases the model cannot train on (checked once,
// by SegmentationTrainer::run); ima::Cancelled when a callback stops the run.
Model trainSegmentation(const SegmentationTrainingRequest& request);

}  // namespace ima
