// ima_evaluate_files / ima_evaluate_buffers: the robustness report (patch-level or whole-volume) as JSON.
#include <sstream>

#include "ima/Error.h"
#include "ima/Evaluation.h"
#include "ima/RobustnessReport.h"

#include "Arguments.h"
#include "ModelHandle.h"

namespace ima::capi {
namespace {

EvaluationOptions evaluationOptionsOf(const ima_evaluate_options& o) {
  EvaluationOptions e;
  e.attacks.clear();
  std::stringstream list(o.attacks ? o.attacks : "pgd,ifgsm");
  for (std::string name; std::getline(list, name, ',');) {
    try {
      checkEvaluationAttack(name);
    } catch (const Error& error) {
      throw InvalidArgument(std::string("options.attacks: ") + error.what());
    }
    e.attacks.push_back(name);
  }
  if (e.attacks.empty()) throw InvalidArgument("options.attacks is empty");
  e.norm = ima::parseNorm(choiceOf(o.norm, "l2", "options.norm", {"l2", "linf"}));
  if (o.budgets) {
    if (o.budget_count == 0 || o.budget_count > 1000)
      throw InvalidArgument("options.budget_count is " + std::to_string(o.budget_count) + " (expected 1..1000)");
    e.budgets.clear();
    for (size_t i = 0; i < o.budget_count; ++i)
      e.budgets.push_back(doubleInRange(o.budgets[i], 0, 1e6, "options.budgets[" + std::to_string(i) + "]"));
  }
  e.pgdSteps = intInRange(o.pgd_steps, 1, 10000, "options.pgd_steps");
  e.ifgsmSteps = intInRange(o.ifgsm_steps, 1, 10000, "options.ifgsm_steps");
  e.apgdSteps = intInRange(o.apgd_steps, 1, 10000, "options.apgd_steps");
  e.maskingChecks = o.masking_checks != 0;
  e.restarts = intInRange(o.restarts, 1, 1000, "options.restarts");
  e.batchSize = intInRange(o.batch_size, 1, 4096, "options.batch_size");
  e.seed = o.seed;
  e.runtime = runtimeOf(o.device, o.threads);
  attackedOf(o.attacked, o.overlap, e);
  return e;
}

std::string evaluate(const ima_model& model, const std::vector<LabelledCase>& cases, const ima_evaluate_options& o,
                     const EvaluationOptions& e) {
  const auto use = useOf(model);
  applyRuntime(e.runtime);
  RobustnessReport report = evaluateRobustness(model.model, cases, e, progressOf(o.progress, o.progress_user, "evaluate"));
  report.model = model.path;
  return toJson(report);
}

}  // namespace
}  // namespace ima::capi

using namespace ima::capi;

extern "C" {

void ima_evaluate_options_init(ima_evaluate_options* options) {
  if (!options) return;
  *options = ima_evaluate_options{};
  options->struct_size = sizeof(ima_evaluate_options);
  options->attacks = "pgd,ifgsm";
  options->norm = "l2";
  options->pgd_steps = 20;
  options->ifgsm_steps = 10;
  options->apgd_steps = 100;
  options->restarts = 1;
  options->batch_size = 8;
  options->device = "auto";
  options->attacked = "patch";
  options->overlap = 0.5;
}

ima_status ima_evaluate_files(const ima_model* model, const char* const* image_paths, const char* const* label_paths,
                              size_t count, const ima_evaluate_options* options, char** report_json) {
  if (report_json) *report_json = nullptr;
  return callGuarded("ima_evaluate_files", [&] {
    requireNonNull(report_json, "report_json (the output pointer)");
    const ima_model& m = modelOf(model);
    const auto o = optionsOf(options, ima_evaluate_options_init, "options");
    const ima::EvaluationOptions e = evaluationOptionsOf(o);
    const auto cases = casesFromFiles(image_paths, label_paths, count, progressOf(o.progress, o.progress_user, "loading"));
    *report_json = allocatedString(evaluate(m, cases, o, e));
  });
}

ima_status ima_evaluate_buffers(const ima_model* model, const ima_case* cases, size_t count,
                                const ima_evaluate_options* options, char** report_json) {
  if (report_json) *report_json = nullptr;
  return callGuarded("ima_evaluate_buffers", [&] {
    requireNonNull(report_json, "report_json (the output pointer)");
    const ima_model& m = modelOf(model);
    const auto o = optionsOf(options, ima_evaluate_options_init, "options");
    const ima::EvaluationOptions e = evaluationOptionsOf(o);
    *report_json = allocatedString(evaluate(m, casesFromBuffers(cases, count), o, e));
  });
}

}  // extern "C"
