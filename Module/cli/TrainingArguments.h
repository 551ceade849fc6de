// What `ima train` and `ima batch harden` share: the options of the training loop (epochs, method
// and its adversarial settings, optimiser, patches, runtime), the patch-size rules, and running a
// SegmentationTrainer with epoch lines and saving its model with the command line's settings.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ima/InputFiles.h"
#include "ima/Model.h"
#include "ima/Training.h"

#include "ArgumentParser.h"

namespace ima::cli {

// --epochs, --iterations, --method (default `method`) and the adversarial options, --batch,
// --patch, --optimizer, --lr, --device, --threads, --seed, --force, --quiet, --json.
void addTrainingLoopOptions(ArgumentParser& parser, const std::string& method);

// The options above, checked (UsageError); checkpoint and log next to `out` (OUT.ckpt,
// OUT.log.jsonl). Patch and batch size are left to choosePatchAndBatch.
TrainingOptions trainingLoopOptions(const ArgumentParser& args, const std::string& out);

// --patch (checked against the network's pooling), else `modelPatch` when it fits the network, else
// the whole slice (2D) or up to 64 per axis (3D) of the smallest case; --batch, else 8 (2D) / 2 (3D).
void choosePatchAndBatch(const ArgumentParser& args, const NetworkSpec& net, const std::vector<int64_t>& modelPatch,
                         const std::vector<LabelledCase>& training, TrainingOptions& options);

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

// Runs the trainer, printing one line per epoch (or JSON with --json, nothing with --quiet);
// Ctrl-C stops after the current iteration with a hint to resume from the checkpoint that holds the
// last finished epoch (this run's, else `resumedFrom`), or saying that none was written.
Model trainWithEpochLines(SegmentationTrainer& trainer, const std::vector<LabelledCase>& training,
                          const std::vector<LabelledCase>& validation, const TrainingOptions& options,
                          const std::vector<LabelInfo>& labels, bool quiet, bool json,
                          const std::string& resumedFrom);

// Adds `settings` (what only the command line knows: device, threads, data, ...) to the model's
// training settings, saves it to `out` and prints where it went.
void saveTrainedModel(Model& trained, const std::string& out, const TrainingOptions& options, int completedEpochs,
                      const nlohmann::json& settings, bool quiet, bool json);

// "2026-12-03T10:00:00Z" (provenance).
std::string utcNow();

}  // namespace ima::cli
