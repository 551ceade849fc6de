// ima_model: loading, freeing and describing a model file.
#include <memory>

#include "Arguments.h"
#include "ima/InputFiles.h"
#include "ModelHandle.h"
#include "Status.h"

namespace ima::capi {

const ima_model& modelOf(const ima_model* model) {
  if (!model) throw InvalidArgument("model is NULL");
  return *model;
}

std::unique_lock<std::mutex> useOf(const ima_model& model) {
  return std::unique_lock<std::mutex>(model.inUse);
}

}  // namespace ima::capi

using namespace ima::capi;

extern "C" {

ima_status ima_model_load(const char* path, ima_model** model) {
  if (model) *model = nullptr;
  return callGuarded("ima_model_load", [&] {
    requireNonNull(model, "model (the output pointer)");
    const std::string file = requiredString(path, "path");
    *model = new ima_model{ima::Model::load(file), file, {}};
  });
}

void ima_model_free(ima_model* model) { delete model; }

ima_status ima_model_metadata(const ima_model* model, char** json) {
  if (json) *json = nullptr;
  return callGuarded("ima_model_metadata", [&] {
    requireNonNull(json, "json (the output pointer)");
    const ima_model& m = modelOf(model);
    *json = allocatedString(m.model.metadata().toJson());
  });
}

ima_status ima_model_import_torchscript(const char* script_path, const char* sidecar_path, const char* output_path,
                                        ima_model** model) {
  if (model) *model = nullptr;
  return callGuarded("ima_model_import_torchscript", [&] {
    const std::string script = requiredString(script_path, "script_path");
    const std::string sidecar = requiredString(sidecar_path, "sidecar_path");
    const std::string output = requiredString(output_path, "output_path");
    ima::InputFiles().add(std::vector<std::string>{script, sidecar}).checkNotAnInput(output, "output_path");
    ima::Model imported = ima::Model::importTorchScript(script, sidecar);
    imported.save(output);
    if (model) *model = new ima_model{std::move(imported), output, {}};
  });
}

ima_status ima_model_export(const ima_model* model, ima_export_format format, const char* output_path) {
  return callGuarded("ima_model_export", [&] {
    const ima_model& m = modelOf(model);
    const std::string output = requiredString(output_path, "output_path");
    if (format != IMA_EXPORT_TORCHSCRIPT && format != IMA_EXPORT_STATE_DICT)
      throw InvalidArgument("format must be IMA_EXPORT_TORCHSCRIPT or IMA_EXPORT_STATE_DICT, not " +
                            std::to_string(static_cast<int>(format)));
    ima::InputFiles().add(m.path).checkNotAnInput(output, "output_path");
    const auto inUse = useOf(m);
    if (format == IMA_EXPORT_TORCHSCRIPT)
      m.model.exportTorchScript(output);
    else
      m.model.exportStateDict(output);
  });
}

}  // extern "C"
