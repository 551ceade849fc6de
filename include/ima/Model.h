// A model: metadata + a network. Loading never executes code from a .imamodel file; importing a
// TorchScript file does (TorchScript is code), so only trusted TorchScript files may be imported.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "ima/ModelMetadata.h"

namespace ima {

class Network;  // ima/Network.h (needs torch)

class Model {
public:
  Model(ModelMetadata metadata, std::shared_ptr<Network> network);

  // A freshly initialised U-Net described by metadata.network (He init, deterministic in seed).
  static Model create(const ModelMetadata& metadata, uint64_t seed);
  // Reads a .imamodel file; throws ima::Error naming the file and the mismatch.
  static Model load(const std::string& path);
  // Loads a TorchScript file (e.g. exported from MONAI or nnU-Net) with a JSON sidecar holding
  // the metadata (same schema as a .imamodel header; network.kind may be omitted).
  static Model importTorchScript(const std::string& scriptPath, const std::string& sidecarPath);
  // The same with the metadata given directly (e.g. from command-line flags). One forward pass on
  // zeros of the patch size checks the channel count, the class count, the spatial output size
  // and that the output is floating point; `metadataSource` names the metadata in messages.
  static Model importTorchScript(const std::string& scriptPath, ModelMetadata metadata,
                                 const std::string& metadataSource);
  // Copying a Model shares its network (one set of weights, like a handle); clone() gives an
  // independent model (same metadata, weights copied) of any network kind, e.g. to fine-tune
  // without changing the original.
  Model clone() const;
  // Writes atomically (temporary name + rename).
  void save(const std::string& path) const;
  // Writes the network as a TorchScript file Python's torch.jit.load reads (atomically). Only
  // imported networks (network.kind "torchscript") can be written so; throws ima::Error otherwise.
  void exportTorchScript(const std::string& path) const;
  // Writes the network's parameters and buffers as a file Python's torch.load reads (atomically):
  // {"state_dict": {name: tensor}, "metadata": the model's JSON header}, the names being those of
  // the network's state_dict() in Python. For the project's U-Net, imaseg.unet.UNet is that network
  // (docs/import.md); tensors are written on the CPU so the file loads on any machine.
  void exportStateDict(const std::string& path) const;

  const ModelMetadata& metadata() const { return metadata_; }
  ModelMetadata& metadata() { return metadata_; }
  const std::shared_ptr<Network>& network() const { return network_; }

private:
  ModelMetadata metadata_;
  std::shared_ptr<Network> network_;
};

// Reads only the metadata of a .imamodel file (what `ima info` prints).
ModelMetadata readModelMetadata(const std::string& path);

}  // namespace ima
