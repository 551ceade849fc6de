// ima_attack: the adversarial version of one caller's image, into the caller's buffer.
#include <cstring>
#include <stdexcept>

#include "ima/Evaluation.h"

#include "Arguments.h"
#include "ModelHandle.h"

using namespace ima::capi;

extern "C" {

void ima_attack_options_init(ima_attack_options* options) {
  if (!options) return;
  *options = ima_attack_options{};
  options->struct_size = sizeof(ima_attack_options);
  options->attack = "pgd";
  options->eps = 1.0;
  options->norm = "l2";
  options->steps = 20;
  options->restarts = 1;
  options->batch_size = 8;
  options->device = "auto";
  options->attacked = "patch";
  options->overlap = 0.5;
}

ima_status ima_attack(const ima_model* model, const ima_case* input, const ima_attack_options* options, float* output,
                      size_t output_length) {
  return callGuarded("ima_attack", [&] {
    const ima::Model& m = modelOf(model).model;
    const auto o = optionsOf(options, ima_attack_options_init, "options");
    requireNonNull(input, "input");
    requireNonNull(output, "output");
    const std::string method = choiceOf(o.attack, "pgd", "options.attack", {"fgsm", "ifgsm", "pgd", "noise"});
    const double eps = doubleInRange(o.eps, 0, 1e6, "options.eps");
    ima::EvaluationOptions e;
    e.norm = ima::parseNorm(choiceOf(o.norm, "l2", "options.norm", {"l2", "linf"}));
    e.pgdSteps = e.ifgsmSteps = intInRange(o.steps, 1, 10000, "options.steps");
    e.restarts = intInRange(o.restarts, 1, 1000, "options.restarts");
    e.batchSize = intInRange(o.batch_size, 1, 4096, "options.batch_size");
    e.seed = o.seed;
    e.runtime = runtimeOf(o.device, o.threads);
  attackedOf(o.attacked, o.overlap, e);

    const ima::LabelledCase c = caseOf(*input, "input", "input");
    if (output_length < c.image.data.size())
      throw BufferTooSmall("output_length is " + std::to_string(output_length) + " but the image has " +
                           std::to_string(c.image.data.size()) + " values");
    const auto use = useOf(*model);
    ima::applyRuntime(e.runtime);
    const ima::Volume adversarial =
        ima::adversarialVolume(m, c, method, eps, e, progressOf(o.progress, o.progress_user, "attack"));
    if (adversarial.data.size() != c.image.data.size())
      throw std::logic_error("the core returned an adversarial image of an unexpected size");
    std::memcpy(output, adversarial.data.data(), adversarial.data.size() * sizeof(float));
  });
}

}  // extern "C"
