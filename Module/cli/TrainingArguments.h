// What `ima train` and `ima batch harden` share: the options of the training loop (epochs, method
// and its adversarial settings, optimiser, patches, runtime), the core's training request they
// make of them, running it with epoch lines and saving its model with the command line's settings.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ima/InputFiles.h"
#include "ima/Model.h"
#include "ima/SegmentationTrainingRequest.h"
#include "ima/Training.h"

#include "ArgumentParser.h"

namespace ima::cli {

// --epochs, --iterations, --method (default `method`) and the adversarial options, --batch,
// --patch, --optimizer, --lr, --device, --threads, --seed, --force, --quiet, --json.
void addTrainingLoopOptions(ArgumentParser& parser, const std::string& method);

// The options above, checked (UsageError); checkpoint and log next to `out` (OUT.ckpt,
// OUT.log.jsonl). Patch and batch size are the core's to resolve (trainingRequest).
TrainingOptions trainingLoopOptions(const ArgumentParser& args, const std::string& out);

// The core's training request for `options`: --patch and --batch (else the core's defaults),
// settings named as the options spell them. The host adds cases, model, provenance and callbacks.
SegmentationTrainingRequest trainingRequest(const ArgumentParser& args, const TrainingOptions& options);

// Under torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set, docs/distributed.md):
// connects this process to the others within --dist-timeout and sets options.communicator; the
// device `device` (as applyRuntime resolved it) becomes cuda:LOCAL_RANK when it is a GPU. Without
// those variables nothing changes.
void joinDistributedTraining(const ArgumentParser& args, const std::string& device, TrainingOptions& options);

// True unless this is a process of a distributed run other than rank 0: only rank 0 prints
// progress and epoch lines and writes the model, the log and the checkpoint (docs/distributed.md).
bool writesOutputs(const TrainingOptions& options);

// Cheap checks before any work: the model path's directory exists, it is not a directory, and it
// does not exist unless --force; a checkpoint to resume from (when given) exists.
void checkModelOutput(const std::string& out, bool force, const std::string& resume = "");

// None of what training writes (the model `out`, its checkpoint and its log) is one of `inputs`
// (the training files, --init, --resume), even with --force. The checkpoint may be the --resume
// file: a continued run replaces it with its later epochs.
void checkTrainingOutputsAreNotInputs(const std::string& out, const TrainingOptions& options,
                                      const std::string& resume, const InputFiles& inputs);

// Runs the request (ima::trainSegmentation), printing one line per epoch (or JSON with --json,
// nothing with --quiet) and calling `onStart` (null: nothing) once the model is resolved; a bad
// setting is a UsageError. Ctrl-C stops after the current iteration with a hint to resume from the
// checkpoint that holds the last finished epoch (this run's, else the one it resumed from), or
// saying that none was written.
Model trainWithEpochLines(SegmentationTrainingRequest request, bool quiet, bool json,
                          const std::function<void(const SegmentationTrainingStart&)>& onStart);

// Adds `settings` (what only the command line knows: device, threads, data, ...) to the model's
// training settings, saves it to `out` and prints where it went.
void saveTrainedModel(Model& trained, const std::string& out, const TrainingOptions& options, int completedEpochs,
                      const nlohmann::json& settings, bool quiet, bool json);

}  // namespace ima::cli
