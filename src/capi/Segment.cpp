// ima_segment: sliding-window inference of a caller's buffer into the caller's label buffer.
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "ima/Error.h"
#include "ima/SlidingWindowInferer.h"

#include "Arguments.h"
#include "ModelHandle.h"

using namespace ima::capi;

extern "C" {

void ima_segment_options_init(ima_segment_options* options) {
  if (!options) return;
  *options = ima_segment_options{};
  options->struct_size = sizeof(ima_segment_options);
  options->overlap = 0.5;
  options->batch_size = 2;
  options->device = "auto";
}

ima_status ima_segment(const ima_model* model, const ima_image* image, const ima_segment_options* options,
                       uint8_t* labels, size_t labels_length, float* probabilities, size_t probabilities_length) {
  return callGuarded("ima_segment", [&] {
    const ima::Model& m = modelOf(model).model;
    const auto o = optionsOf(options, ima_segment_options_init, "options");
    requireNonNull(labels, "labels");
    const ima::Volume volume = volumeOf(image, "image");

    ima::InferenceOptions io;
    io.overlap = doubleInRange(o.overlap, 0, 0.999, "options.overlap");
    io.batchSize = intInRange(o.batch_size, 1, 4096, "options.batch_size");
    io.mirror = o.mirror != 0;
    io.wholeImage = o.whole_image != 0;
    const int dims = m.metadata().network.dims;
    if (std::any_of(o.patch_size, o.patch_size + 3, [](int64_t s) { return s != 0; })) {
      for (int a = 0; a < dims; ++a) {
        if (o.patch_size[a] < 1 || o.patch_size[a] > 4096)
          throw InvalidArgument("options.patch_size[" + std::to_string(a) + "] is " + std::to_string(o.patch_size[a]) +
                                " (a " + std::to_string(dims) + "D model needs " + std::to_string(dims) +
                                " sizes in 1..4096)");
        io.patchSize.push_back(o.patch_size[a]);
      }
    }
    io.runtime = runtimeOf(o.device, o.threads);

    const size_t voxels = static_cast<size_t>(volume.shape.voxels());
    if (labels_length < voxels)
      throw BufferTooSmall("labels_length is " + std::to_string(labels_length) + " but the image has " +
                           std::to_string(voxels) + " voxels");
    const int classes = m.metadata().network.classes;
    if (probabilities && probabilities_length / static_cast<size_t>(classes) < voxels)
      throw BufferTooSmall("probabilities_length is " + std::to_string(probabilities_length) + " but " +
                           std::to_string(classes) + " classes x " + std::to_string(voxels) + " voxels are needed");
    if (volume.channels != m.metadata().network.inChannels)
      throw ima::Error("image has " + std::to_string(volume.channels) + " channel(s) but model '" +
                       modelOf(model).path + "' expects " + std::to_string(m.metadata().network.inChannels));
    if (volume.shape.dims() < dims)
      throw ima::Error("image is 2D (" + volume.shape.str() + ") but model '" + modelOf(model).path +
                       "' is a 3D model");
    const auto use = useOf(*model);
    ima::applyRuntime(io.runtime);

    const ima::Segmentation s = ima::segment(m, volume, io, progressOf(o.progress, o.progress_user, "segment"),
                                             probabilities != nullptr);
    // The core's outputs have the input's grid; checked anyway, as the copies must stay in bounds.
    if (s.labels.data.size() != voxels || (probabilities && s.probabilities.data.size() != classes * voxels))
      throw std::logic_error("the core returned outputs of an unexpected size");
    std::memcpy(labels, s.labels.data.data(), voxels);
    if (probabilities) std::memcpy(probabilities, s.probabilities.data.data(), s.probabilities.data.size() * sizeof(float));
  });
}

}  // extern "C"
