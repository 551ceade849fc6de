#include "OpProfiler.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>

#include <ATen/record_function.h>
#include <torch/torch.h>

namespace {

using Clock = std::chrono::steady_clock;

struct Frame {
  const char* name;
  Clock::time_point start;
  double childSeconds = 0;
};

// The callbacks are plain functions, so the profile lives here; OpProfiler allows one at a time.
struct Recording {
  std::vector<Frame> stack;
  std::map<std::string, OpProfiler::Op> ops;
  int openConvolutions = 0;  // aten::convolution nests aten::_convolution, mkldnn_convolution, ...
  double convolutionFlops = 0, convolutionSeconds = 0;
  at::CallbackHandle handle = 0;
};
Recording* recording = nullptr;

bool isConvolution(const char* name) {
  const std::string n = name;
  return n == "aten::convolution" || n == "aten::convolution_backward";
}

// 2 x multiply-adds of the forward convolution. Not transposed, weight [Cout, Cin/g, k...]: each
// output element takes weight.numel() / Cout of them; transposed, weight [Cin, Cout/g, k...]: each
// input element contributes weight.numel() / Cin.
double forwardFlops(const at::Tensor& input, const at::Tensor& output, const at::Tensor& weight, bool transposed) {
  const double perElement = static_cast<double>(weight.numel()) / static_cast<double>(weight.size(0));
  return 2.0 * perElement * static_cast<double>(transposed ? input.numel() : output.numel());
}

// aten::convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
// aten::convolution_backward(grad_output, input, weight, bias_sizes, stride, padding, dilation,
//                            transposed, output_padding, groups, output_mask) -> (grad_input,
//                            grad_weight, grad_bias)
double flopsOf(const at::RecordFunction& fn) {
  const auto in = fn.inputs();
  if (std::string(fn.name()) == "aten::convolution") {
    if (in.size() < 9 || fn.outputs().empty() || !fn.outputs()[0].isTensor()) return 0;
    return forwardFlops(in[0].toTensor(), fn.outputs()[0].toTensor(), in[1].toTensor(), in[6].toBool());
  }
  if (in.size() < 10) return 0;
  // The gradients computed (input, weight) are the defined tensors among the outputs.
  const auto& out = fn.outputs();
  int gradients = 0;
  for (size_t i = 0; i < 2 && i < out.size(); ++i)
    if (out[i].isTensor() && out[i].toTensor().defined()) ++gradients;
  // The forward's output has grad_output's shape.
  return gradients * forwardFlops(in[1].toTensor(), in[0].toTensor(), in[2].toTensor(), in[7].toBool());
}

std::unique_ptr<at::ObserverContext> onStart(const at::RecordFunction& fn) {
  if (!recording) return nullptr;
  recording->stack.push_back({fn.name(), Clock::now(), 0});
  if (isConvolution(fn.name())) ++recording->openConvolutions;
  return nullptr;
}

void onEnd(const at::RecordFunction& fn, at::ObserverContext*) {
  if (!recording || recording->stack.empty()) return;
  const Frame frame = recording->stack.back();
  recording->stack.pop_back();
  const double seconds = std::chrono::duration<double>(Clock::now() - frame.start).count();
  OpProfiler::Op& op = recording->ops[frame.name];
  op.name = frame.name;
  ++op.calls;
  op.selfSeconds += seconds - frame.childSeconds;
  if (!recording->stack.empty()) recording->stack.back().childSeconds += seconds;
  if (isConvolution(fn.name()) && --recording->openConvolutions == 0) {
    recording->convolutionFlops += flopsOf(fn);
    recording->convolutionSeconds += seconds;
  }
}

}  // namespace

OpProfiler::OpProfiler() {
  if (recording) throw std::logic_error("one OpProfiler at a time");
  recording = new Recording;
  recording->handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(onStart, onEnd).needsInputs(true).needsOutputs(true));
}

OpProfiler::~OpProfiler() {
  at::removeCallback(recording->handle);
  delete recording;
  recording = nullptr;
}

std::vector<OpProfiler::Op> OpProfiler::bySelfTime() const {
  std::vector<Op> ops;
  for (const auto& [name, op] : recording->ops) ops.push_back(op);
  std::sort(ops.begin(), ops.end(), [](const Op& a, const Op& b) { return a.selfSeconds > b.selfSeconds; });
  return ops;
}

double OpProfiler::recordedSeconds() const {
  double total = 0;
  for (const auto& entry : recording->ops) total += entry.second.selfSeconds;
  return total;
}

double OpProfiler::convolutionFlops() const { return recording->convolutionFlops; }
double OpProfiler::convolutionSeconds() const { return recording->convolutionSeconds; }
