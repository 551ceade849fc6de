#include "internal/TrainingCheckpoint.h"

#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ima/Error.h"
#include "ima/Files.h"
#include "internal/ChecksummedFile.h"

namespace ima {

void writeCheckpoint(const std::string& path, const ModelMetadata& metadata, Network& network,
                     torch::optim::Optimizer& optimizer, const CheckpointState& state) {
  torch::serialize::OutputArchive archive;
  archive.write("metadata", c10::IValue(metadata.toJson(-1)));
  std::ostringstream weights;
  network.saveWeights(weights);
  const std::string bytes = weights.str();
  archive.write("weights", torch::from_blob(const_cast<char*>(bytes.data()), {static_cast<int64_t>(bytes.size())}, torch::kUInt8).clone());
  torch::serialize::OutputArchive optimizerArchive;
  optimizer.save(optimizerArchive);
  archive.write("optimizer", optimizerArchive);
  archive.write("epoch", c10::IValue(static_cast<int64_t>(state.epoch)));
  archive.write("rng", c10::IValue(state.random));
  if (!state.methodState.empty()) archive.write("margins", c10::IValue(state.methodState));
  if (!state.warmStarts.empty()) {
    torch::serialize::OutputArchive warm;
    for (const auto& [name, tensor] : state.warmStarts) warm.write(name, tensor);
    archive.write("warm-starts", warm);
  }
  // Streamed to the file through the checksum: the archive is never held in memory.
  writeChecksummedFile(path, [&](const ByteSink& sink) {
    archive.save_to([&](const void* data, size_t size) {
      sink(data, size);
      return size;
    });
  });
}

CheckpointState readCheckpoint(const std::string& path, const NetworkSpec& expected, Network& network,
                               torch::optim::Optimizer& optimizer, torch::Device device,
                               const std::function<void(const ModelMetadata& stored)>& checkStored) {
  torch::serialize::InputArchive archive;
  const CheckedFile file(path, "checkpoint");
  try {
    archive.load_from([&](uint64_t position, void* buffer, size_t size) { return file.read(position, buffer, size); },
                      [&] { return static_cast<size_t>(file.size()); }, device);
  } catch (const c10::Error& e) {
    throw Error("checkpoint '" + path + "' cannot be read: " + e.what_without_backtrace());
  }
  try {
    c10::IValue metadata, epoch, rng;
    if (!archive.try_read("metadata", metadata) || !archive.try_read("epoch", epoch) || !archive.try_read("rng", rng))
      throw Error("checkpoint '" + path + "' lacks metadata, epoch or random state");
    const ModelMetadata stored = ModelMetadata::fromJson(metadata.toStringRef(), "checkpoint '" + path + "'");
    const NetworkSpec& a = stored.network;
    const NetworkSpec& b = expected;
    if (a.kind != b.kind || a.dims != b.dims || a.inChannels != b.inChannels || a.classes != b.classes ||
        a.baseFeatures != b.baseFeatures || a.stages != b.stages || a.norm != b.norm)
      throw Error("checkpoint '" + path + "' holds a different network than the one being trained");
    if (checkStored) checkStored(stored);
    torch::Tensor weights;
    archive.read("weights", weights);
    const std::string bytes(static_cast<const char*>(weights.data_ptr()), static_cast<size_t>(weights.numel()));
    std::istringstream in(bytes);
    network.loadWeights(in);
    network.to(device);
    torch::serialize::InputArchive optimizerArchive;
    archive.read("optimizer", optimizerArchive);
    optimizer.load(optimizerArchive);
    CheckpointState state;
    state.epoch = static_cast<int>(epoch.toInt());
    state.random = rng.toStringRef();
    c10::IValue margins;
    if (archive.try_read("margins", margins)) state.methodState = margins.toStringRef();
    torch::serialize::InputArchive warm;
    if (archive.try_read("warm-starts", warm))
      for (const char* name : {"ids", "placements", "deltas"}) {
        torch::Tensor t;
        if (warm.try_read(name, t)) state.warmStarts.emplace_back(name, t);
      }
    return state;
  } catch (const c10::Error& e) {
    throw Error("checkpoint '" + path + "' is incomplete or does not match: " + e.what_without_backtrace());
  }
}

namespace {

// Settings a checkpoint may lack because older versions did not record them, with the value those
// versions used. A key added to the recorded settings later belongs here.
const std::map<std::string, nlohmann::json> kRecordedLater = {{"warm_start", false}, {"bisection_tolerance", 0.0}};

// The recorded settings by their keys (TrainingSettings.h), the adversarial ones lifted to the top
// unless `adversarial` is false.
std::map<std::string, nlohmann::json> settingsByKey(const nlohmann::json& parsed, bool adversarial) {
  std::map<std::string, nlohmann::json> keys;
  if (!parsed.is_object()) return keys;
  for (const auto& [key, value] : parsed.items()) {
    if (key != "adversarial" || !value.is_object()) {
      keys[key] = value;
      continue;
    }
    if (adversarial)
      for (const auto& [inner, v] : value.items())
        keys[inner == "norm" ? "attack_norm" : inner == "clamp" ? "attack_clamp" : inner] = v;
  }
  if (!keys.count("world_size")) keys["world_size"] = 1;  // one process records none
  keys.erase("epochs");
  keys.erase("backend");
  return keys;
}

nlohmann::json parsedSettings(const std::string& json) {
  return nlohmann::json::parse(json.empty() ? "{}" : json, nullptr, false);
}

}  // namespace

void checkResumeSettings(const std::string& path, const std::string& checkpointSettings,
                         const std::string& runSettings, const SettingName& name) {
  const nlohmann::json writtenJson = parsedSettings(checkpointSettings), runJson = parsedSettings(runSettings);
  const auto method = [](const nlohmann::json& j) { return j.is_object() ? j.value("method", "") : ""; };
  const bool adversarial = !(method(writtenJson) == "standard" && method(runJson) == "standard");
  auto written = settingsByKey(writtenJson, adversarial);
  const auto run = settingsByKey(runJson, adversarial);
  std::string differences;
  for (const auto& [key, value] : run) {
    auto it = written.find(key);
    if (it == written.end()) {
      const auto before = kRecordedLater.find(key);
      if (before == kRecordedLater.end()) continue;  // not recorded then: nothing to compare
      it = written.emplace(key, before->second).first;
    }
    if (it->second == value) continue;
    const std::string shown = key == "world_size" ? "the number of processes" : name ? name(key) : key;
    differences += (differences.empty() ? "" : ", ") + shown + " " + it->second.dump() + " (this run: " + value.dump() + ")";
  }
  if (!differences.empty())
    throw Error("checkpoint '" + path + "' was written with other settings: " + differences +
                "; resume with the settings of the run that wrote it");
}

}  // namespace ima
