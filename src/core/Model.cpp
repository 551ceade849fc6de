// .imamodel container: "IMAMODEL" | u32 container version | u64 n | n bytes JSON metadata |
// u64 m | m bytes weights (torch archive, or the TorchScript archive) | u32 CRC-32 of all before.
// Lengths and the checksum let truncation and corruption be reported as such.
#include "ima/Model.h"

#include <cstring>
#include <sstream>

#include <zlib.h>

#include "ima/Error.h"
#include "ima/TorchScriptNetwork.h"
#include "ima/UNet.h"
#include "ima/Files.h"

namespace ima {
namespace {

constexpr char kMagic[8] = {'I', 'M', 'A', 'M', 'O', 'D', 'E', 'L'};
constexpr uint32_t kContainerVersion = 1;

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<char>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff);
  out.append(bytes, sizeof(T));
}

template <typename T>
T get(const std::string& in, size_t offset) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[offset + i])) << (8 * i);
  return static_cast<T>(v);
}

uint32_t checksum(const std::string& bytes, size_t length) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t done = 0;
  while (done < length) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<size_t>(length - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), chunk);
    done += chunk;
  }
  return static_cast<uint32_t>(crc);
}

struct Container {
  std::string json;
  std::string weights;
};

Container parseContainer(const std::string& path, bool needWeights) {
  const std::string bytes = readFileBytes(path, "model file");
  const size_t header = sizeof(kMagic) + 4 + 8;
  if (bytes.size() < sizeof(kMagic) || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    throw Error("model file '" + path + "' is not an IMASegmentation model (no IMAMODEL signature)");
  if (bytes.size() < header)
    throw Error("model file '" + path + "' is truncated (" + std::to_string(bytes.size()) + " bytes)");
  const uint32_t version = get<uint32_t>(bytes, 8);
  if (version != kContainerVersion)
    throw Error("model file '" + path + "' has container version " + std::to_string(version) +
                "; this build reads version " + std::to_string(kContainerVersion));
  const uint64_t jsonLength = get<uint64_t>(bytes, 12);
  const auto truncated = [&](uint64_t expected) {
    return Error("model file '" + path + "' is truncated: expected at least " + std::to_string(expected) +
                 " bytes, found " + std::to_string(bytes.size()));
  };
  if (bytes.size() < header + jsonLength + 8) throw truncated(header + jsonLength + 8);
  Container c;
  c.json = bytes.substr(header, jsonLength);
  const uint64_t weightsLength = get<uint64_t>(bytes, header + jsonLength);
  const uint64_t end = header + jsonLength + 8 + weightsLength;
  if (bytes.size() < end + 4) throw truncated(end + 4);
  if (bytes.size() > end + 4)
    throw Error("model file '" + path + "' has " + std::to_string(bytes.size() - end - 4) +
                " unexpected trailing bytes");
  if (checksum(bytes, end) != get<uint32_t>(bytes, end))
    throw Error("model file '" + path + "' is corrupt (checksum mismatch)");
  if (needWeights) c.weights = bytes.substr(header + jsonLength + 8, weightsLength);
  return c;
}

std::shared_ptr<Network> makeNetwork(const ModelMetadata& m, const std::string& weights, const std::string& path) {
  try {
    std::istringstream in(weights);
    if (m.network.kind == "unet") {
      auto net = std::make_shared<UNetNetwork>(m.network, 0);
      net->loadWeights(in);
      return net;
    }
    if (m.network.kind == "torchscript") {
      auto net = std::make_shared<TorchScriptNetwork>(torch::jit::Module());
      net->loadWeights(in);
      return net;
    }
  } catch (const Error& e) {
    throw Error("model file '" + path + "': " + e.what());
  } catch (const c10::Error& e) {
    throw Error("model file '" + path + "': weights cannot be read (" + e.what_without_backtrace() + ")");
  }
  throw Error("model file '" + path + "': unknown network kind '" + m.network.kind + "'");
}

// Runs one forward pass on zeros to check that the network accepts the declared channels at the
// declared patch size and returns float logits of the declared classes at that size; catches
// sidecars that do not match their TorchScript file and networks with size requirements.
void checkNetworkShapes(Network& net, const ModelMetadata& m, const std::string& source) {
  std::vector<int64_t> shape{1, m.network.inChannels};
  for (auto it = m.patchSize.rbegin(); it != m.patchSize.rend(); ++it) shape.push_back(*it);
  std::string patch;
  for (size_t i = 0; i < m.patchSize.size(); ++i) patch += (i ? "x" : "") + std::to_string(m.patchSize[i]);
  torch::Tensor out;
  const bool training = net.isTraining();
  try {
    torch::NoGradGuard noGrad;
    net.setTraining(false);
    out = net.forward(torch::zeros(shape, torch::TensorOptions().device(net.device())));
    net.setTraining(training);
  } catch (const std::exception& e) {
    net.setTraining(training);
    const auto* c10 = dynamic_cast<const c10::Error*>(&e);
    throw Error(source + ": the network rejects input of " + std::to_string(m.network.inChannels) +
                " channel(s) at the patch size " + patch +
                " (a network may need a fixed patch size or sizes divisible by 2^levels; set patch_size "
                "accordingly): " + (c10 ? c10->what_without_backtrace() : e.what()));
  }
  if (!out.is_floating_point())
    throw Error(source + ": the network returns a " + std::string(c10::toString(out.scalar_type())) +
                " tensor; it must return floating-point logits (not a label map)");
  if (out.dim() != static_cast<int64_t>(shape.size()) || out.size(1) != m.network.classes)
    throw Error(source + ": the network returns " + std::to_string(out.dim() >= 2 ? out.size(1) : -1) +
                " output channel(s) but the metadata declares " + std::to_string(m.network.classes) + " classes");
  for (size_t d = 2; d < shape.size(); ++d)
    if (out.size(static_cast<int64_t>(d)) != shape[d]) {
      std::string got;
      for (int64_t i = out.dim() - 1; i >= 2; --i) got += (i == out.dim() - 1 ? "" : "x") + std::to_string(out.size(i));
      throw Error(source + ": the network returns logits of spatial size " + got + " for input of patch size " +
                  patch + "; it must return one logit per voxel at the input size");
    }
}

}  // namespace

Model::Model(ModelMetadata metadata, std::shared_ptr<Network> network)
    : metadata_(std::move(metadata)), network_(std::move(network)) {
  if (!network_) throw Error("a model needs a network");
}

Model Model::create(const ModelMetadata& metadata, uint64_t seed) {
  if (metadata.network.kind != "unet")
    throw Error("only U-Net models can be created from scratch; import '" + metadata.network.kind + "' models");
  if (static_cast<int>(metadata.patchSize.size()) != metadata.network.dims)
    throw Error("patch size has " + std::to_string(metadata.patchSize.size()) + " entries but the network is " +
                std::to_string(metadata.network.dims) + "D");
  return Model(metadata, std::make_shared<UNetNetwork>(metadata.network, seed));
}

ModelMetadata readModelMetadata(const std::string& path) {
  return ModelMetadata::fromJson(parseContainer(path, false).json, "model file '" + path + "'");
}

Model Model::load(const std::string& path) {
  const Container c = parseContainer(path, true);
  ModelMetadata m = ModelMetadata::fromJson(c.json, "model file '" + path + "'");
  return Model(m, makeNetwork(m, c.weights, path));
}

Model Model::importTorchScript(const std::string& scriptPath, const std::string& sidecarPath) {
  const std::string sidecar = readFileBytes(sidecarPath, "metadata sidecar");
  const std::string source = "metadata sidecar '" + sidecarPath + "'";
  return importTorchScript(scriptPath, ModelMetadata::fromJson(sidecar, source), source);
}

Model Model::importTorchScript(const std::string& scriptPath, ModelMetadata m, const std::string& metadataSource) {
  m.network.kind = "torchscript";
  if (static_cast<int>(m.patchSize.size()) != m.network.dims)
    throw Error(metadataSource + ": patch size has " + std::to_string(m.patchSize.size()) +
                " entries but the network is " + std::to_string(m.network.dims) + "D");
  std::shared_ptr<TorchScriptNetwork> net;
  try {
    net = std::make_shared<TorchScriptNetwork>(torch::jit::load(scriptPath));
  } catch (const c10::Error& e) {
    throw Error("TorchScript file '" + scriptPath + "' cannot be loaded (is it a file written by torch.jit.save?): " +
                e.what_without_backtrace());
  }
  checkNetworkShapes(*net, m, "TorchScript file '" + scriptPath + "' with " + metadataSource);
  return Model(m, net);
}

Model Model::clone() const {
  std::ostringstream weights;
  network_->saveWeights(weights);
  return Model(metadata_, makeNetwork(metadata_, weights.str(), "copy of a model"));
}

void Model::save(const std::string& path) const {
  std::ostringstream weights;
  network_->saveWeights(weights);
  const std::string json = metadata_.toJson(2);
  const std::string w = weights.str();
  std::string bytes(kMagic, sizeof(kMagic));
  put<uint32_t>(bytes, kContainerVersion);
  put<uint64_t>(bytes, json.size());
  bytes += json;
  put<uint64_t>(bytes, w.size());
  bytes += w;
  put<uint32_t>(bytes, checksum(bytes, bytes.size()));
  writeFileAtomically(path, bytes);
}

void Model::exportTorchScript(const std::string& path) const {
  if (metadata_.network.kind != "torchscript")
    throw Error("only imported TorchScript networks can be exported as TorchScript; this model's network is '" +
                metadata_.network.kind + "' (export its state dict instead: docs/import.md)");
  // Saved in evaluation mode, the mode torch.jit.load users run inference in.
  network_->setTraining(false);
  std::ostringstream archive;
  network_->saveWeights(archive);  // a TorchScript network's weights are its whole archive
  writeFileAtomically(path, archive.str());
}

void Model::exportStateDict(const std::string& path) const {
  c10::Dict<std::string, torch::Tensor> tensors;
  for (const auto& [name, tensor] : network_->namedTensors())
    tensors.insert(name, tensor.detach().to(torch::Device(torch::kCPU)).clone());
  c10::impl::GenericDict file(c10::StringType::get(), c10::AnyType::get());
  file.insert("state_dict", tensors);
  file.insert("metadata", metadata_.toJson(2));
  const std::vector<char> bytes = torch::pickle_save(file);
  writeFileAtomically(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace ima
