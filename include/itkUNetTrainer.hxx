#ifndef itkUNetTrainer_hxx
#define itkUNetTrainer_hxx

#include "itkUNetTrainer.h"

#include <algorithm>
#include <optional>

#include "itkIMACoreCall.h"
#include "itkIMAImageConversion.h"

namespace itk
{
namespace UNetTrainerDetail
{
// Pairs are named pipeline inputs, so that Update() brings upstream readers up to date.
inline std::string
InputName(bool training, bool labels, size_t index)
{
  return std::string(training ? "Training" : "Validation") + (labels ? "Labels" : "Image") + std::to_string(index);
}

// Messages from the core name a setting by its key ("eps_max", "dims"); the trainer's are named by
// their Set/Get names, most of them the key in PascalCase.
inline std::string
ParameterName(const std::string & key)
{
  if (key == "eps")
  {
    return "PgdEps";
  }
  if (key == "attack_clamp")
  {
    return "[AttackClampLow, AttackClampHigh]";
  }
  if (key == "dims")
  {
    return "NetworkDimension";
  }
  if (key == "features")
  {
    return "BaseFeatures";
  }
  if (key == "labels_names")
  {
    return "LabelNames";
  }
  return ima::pascalCase(key); // EpsMax, PatchSize, BatchSize, MaxFeatures, Stages, Norm
}
} // namespace UNetTrainerDetail

template <typename TImage, typename TLabelImage>
UNetTrainer<TImage, TLabelImage>::UNetTrainer()
{
  this->SetNumberOfRequiredOutputs(1);
  this->SetNthOutput(0, this->MakeOutput(0));
}

template <typename TImage, typename TLabelImage>
auto
UNetTrainer<TImage, TLabelImage>::MakeOutput(DataObjectPointerArraySizeType) -> DataObjectPointer
{
  return ModelObjectType::New().GetPointer();
}

template <typename TImage, typename TLabelImage>
auto
UNetTrainer<TImage, TLabelImage>::GetModelOutput() -> ModelObjectType *
{
  return itkDynamicCastInDebugMode<ModelObjectType *>(this->GetPrimaryOutput());
}

template <typename TImage, typename TLabelImage>
auto
UNetTrainer<TImage, TLabelImage>::GetModelOutput() const -> const ModelObjectType *
{
  return itkDynamicCastInDebugMode<const ModelObjectType *>(this->GetPrimaryOutput());
}

template <typename TImage, typename TLabelImage>
void
UNetTrainer<TImage, TLabelImage>::AddPair(bool                   training,
                                          const ImageType *      image,
                                          const LabelImageType * labels,
                                          const std::string &    id)
{
  if (image == nullptr || labels == nullptr)
  {
    itkExceptionMacro(<< "Add" << (training ? "Training" : "Validation") << "Pair: image and labels must not be null");
  }
  auto &       ids = training ? m_TrainingIds : m_ValidationIds;
  const size_t index = ids.size();
  ids.push_back(id.empty() ? (training ? "case" : "validation") + std::to_string(index) : id);
  // ITK's convention: inputs are stored non-const, the process object does not modify them.
  this->SetInput(UNetTrainerDetail::InputName(training, false, index), const_cast<ImageType *>(image));
  this->SetInput(UNetTrainerDetail::InputName(training, true, index), const_cast<LabelImageType *>(labels));
}

template <typename TImage, typename TLabelImage>
void
UNetTrainer<TImage, TLabelImage>::AddTrainingPair(const ImageType *      image,
                                                  const LabelImageType * labels,
                                                  const std::string &    id)
{
  this->AddPair(true, image, labels, id);
}

template <typename TImage, typename TLabelImage>
void
UNetTrainer<TImage, TLabelImage>::AddValidationPair(const ImageType *      image,
                                                    const LabelImageType * labels,
                                                    const std::string &    id)
{
  this->AddPair(false, image, labels, id);
}

template <typename TImage, typename TLabelImage>
void
UNetTrainer<TImage, TLabelImage>::ClearTrainingPairs()
{
  for (size_t i = 0; i < m_TrainingIds.size(); ++i)
  {
    this->RemoveInput(UNetTrainerDetail::InputName(true, false, i));
    this->RemoveInput(UNetTrainerDetail::InputName(true, true, i));
  }
  m_TrainingIds.clear();
  this->Modified();
}

template <typename TImage, typename TLabelImage>
void
UNetTrainer<TImage, TLabelImage>::ClearValidationPairs()
{
  for (size_t i = 0; i < m_ValidationIds.size(); ++i)
  {
    this->RemoveInput(UNetTrainerDetail::InputName(false, false, i));
    this->RemoveInput(UNetTrainerDetail::InputName(false, true, i));
  }
  m_ValidationIds.clear();
  this->Modified();
}

template <typename TImage, typename TLabelImage>
void
UNetTrainer<TImage, TLabelImage>::SetPatchSize(const PatchSizeType & patchSize)
{
  if (patchSize != m_PatchSize)
  {
    m_PatchSize = patchSize;
    this->Modified();
  }
}

template <typename TImage, typename TLabelImage>
void
UNetTrainer<TImage, TLabelImage>::SetLabelNames(const LabelNamesType & names)
{
  if (names != m_LabelNames)
  {
    m_LabelNames = names;
    this->Modified();
  }
}

template <typename TImage, typename TLabelImage>
void
UNetTrainer<TImage, TLabelImage>::SetNormalization(const ima::Normalization & normalization)
{
  m_Normalization = normalization;
  this->Modified();
}

template <typename TImage, typename TLabelImage>
std::vector<ima::LabelledCase>
UNetTrainer<TImage, TLabelImage>::ConvertPairs(bool training) const
{
  const auto &                   ids = training ? m_TrainingIds : m_ValidationIds;
  std::vector<ima::LabelledCase> cases;
  cases.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
  {
    const auto * image =
      dynamic_cast<const ImageType *>(this->GetInput(UNetTrainerDetail::InputName(training, false, i)));
    const auto * labels =
      dynamic_cast<const LabelImageType *>(this->GetInput(UNetTrainerDetail::InputName(training, true, i)));
    if (image == nullptr || labels == nullptr)
    {
      itkExceptionMacro(<< "case '" << ids[i] << "' has no image or no labels");
    }
    ima::LabelledCase c;
    c.id = ids[i];
    CallIMACore(this, [&] {
      c.image = ImageToIMAVolume(image);
      try
      {
        c.labels = LabelImageToIMALabelMap(labels);
      }
      catch (const ima::Error & e)
      {
        throw ima::Error("case '" + ids[i] + "': " + e.what());
      }
    });
    cases.push_back(std::move(c));
  }
  return cases;
}

template <typename TImage, typename TLabelImage>
ima::NewModelSettings
UNetTrainer<TImage, TLabelImage>::MakeNewModelSettings() const
{
  if (m_NetworkDimension != 2 && m_NetworkDimension != 3)
  {
    itkExceptionMacro(<< "NetworkDimension must be 2 or 3, got " << m_NetworkDimension);
  }
  if (m_NetworkDimension > ImageDimension)
  {
    itkExceptionMacro(<< "a " << m_NetworkDimension << "D network cannot be trained on " << ImageDimension
                      << "D images");
  }
  ima::NewModelSettings settings;
  settings.dims = static_cast<int>(m_NetworkDimension);
  settings.baseFeatures = m_BaseFeatures;
  if (m_MaxFeatures > 0)
  {
    settings.maxFeatures = m_MaxFeatures;
  }
  settings.stages = m_Stages;
  settings.norm = m_Norm;
  settings.labelNames = m_LabelNames;
  settings.normalization = m_Normalization;
  return settings;
}

template <typename TImage, typename TLabelImage>
ima::TrainingOptions
UNetTrainer<TImage, TLabelImage>::CheckedTrainingOptions() const
{
  ima::TrainingSettings settings;
  settings.method = m_Method;
  settings.epochs = m_Epochs;
  settings.iterationsPerEpoch = m_IterationsPerEpoch;
  settings.optimizer = m_Optimizer;
  settings.learningRate = m_LearningRate;
  settings.seed = m_Seed;
  settings.eps = m_PgdEps;
  settings.epsMax = m_EpsMax;
  if (m_Delta != 0)
    settings.delta = m_Delta;  // else the settings' default, EpsMax / 20, as on every route
  settings.beta = m_Beta;
  settings.tradesBeta = m_TradesBeta;
  if (m_PgdSteps != 0)
    settings.pgdSteps = m_PgdSteps;  // else the method's default, as on every route
  settings.alpha = m_Alpha;
  settings.bisectionSteps = m_BisectionSteps;
  settings.bisectionTolerance = m_BisectionTolerance;
  settings.warmStart = m_WarmStart;
  settings.bisection = m_Bisection;
  settings.attackNorm = m_AttackNorm;
  settings.criterion = m_Criterion;
  settings.tau = m_Tau;
  settings.adversarialSamples = m_AdversarialSamples;
  settings.resetMisclassified = m_ResetMisclassified;
  if (m_AttackClamp)
  {
    settings.attackClamp = { { m_AttackClampLow, m_AttackClampHigh } };
  }
  return CallIMACore(this, [&] { return ima::trainingOptionsOf(settings, UNetTrainerDetail::ParameterName); });
}

template <typename TImage, typename TLabelImage>
void
UNetTrainer<TImage, TLabelImage>::GenerateData()
{
  m_LastEpochReport = ima::EpochReport();
  m_EpochReports.clear();
  m_Model.reset();

  ima::TrainingOptions options = this->CheckedTrainingOptions();
  const std::vector<ima::LabelledCase> training = this->ConvertPairs(true);
  const std::vector<ima::LabelledCase> validation = this->ConvertPairs(false);
  if (training.empty())
  {
    itkExceptionMacro(<< "no training pairs: call AddTrainingPair() before Update()");
  }

  options.momentum = m_Momentum;
  options.weightDecay = m_WeightDecay;
  options.polyExponent = m_PolyExponent;
  options.foregroundFraction = m_ForegroundFraction;
  options.flips = m_Flips;
  options.validateEvery = m_ValidateEvery;
  options.checkpointPath = m_CheckpointFileName;
  options.logPath = m_LogFileName;
  options.runtime.device = m_Device;
  options.runtime.threads = m_Threads;

  ima::SegmentationTrainingRequest request;
  request.training = &training;
  request.validation = &validation;
  request.options = options;
  if (m_InitialModelFileName.empty())
  {
    request.newModel = this->MakeNewModelSettings();
  }
  else
  {
    request.startFrom = CallIMACore(this, [&] { return ima::Model::load(m_InitialModelFileName); });
    request.startedFrom = m_InitialModelFileName;
  }
  request.resumeFrom = m_ResumeFileName;
  request.patchSize = m_PatchSize;
  request.batchSize = m_BatchSize;
  request.host = "itk::UNetTrainer";
  request.settingName = UNetTrainerDetail::ParameterName;
  // The model being trained, kept on an abort: its network holds the weights reached so far.
  std::optional<ima::Model> started;
  request.onStart = [&started](const ima::SegmentationTrainingStart & start) { started = start.model; };
  // Observers see the report through GetLastEpochReport() and may set AbortGenerateData.
  request.onEpoch = [this](const ima::EpochReport & report) {
    m_LastEpochReport = report;
    m_EpochReports.push_back(report);
    this->InvokeEvent(IterationEvent());
    return !this->GetAbortGenerateData();
  };
  request.progress = [this](double fraction) {
    this->UpdateProgress(static_cast<float>(fraction));
    return !this->GetAbortGenerateData();
  };

  try
  {
    m_Model = std::make_shared<ima::Model>(CallIMACore(this, [&] { return ima::trainSegmentation(request); }));
  }
  catch (const ProcessAborted &)
  {
    if (started)
    {
      m_Model = std::make_shared<ima::Model>(*started);
    }
    throw;
  }
  this->GetModelOutput()->SetModel(m_Model);
  if (this->GetProgress() < 1.0f)
  {
    this->UpdateProgress(1.0f);
  }
}

template <typename TImage, typename TLabelImage>
void
UNetTrainer<TImage, TLabelImage>::SaveModel(const std::string & fileName) const
{
  if (!m_Model)
  {
    itkExceptionMacro(<< "no trained model to save to '" << fileName << "': call Update() first");
  }
  CallIMACore(this, [&] { m_Model->save(fileName); });
}

template <typename TImage, typename TLabelImage>
void
UNetTrainer<TImage, TLabelImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  const auto printList = [&os](const auto & values) {
    os << "[";
    for (size_t i = 0; i < values.size(); ++i)
    {
      os << (i ? ", " : "") << values[i];
    }
    os << "]";
  };
  os << indent << "TrainingPairs: " << m_TrainingIds.size() << " ";
  printList(m_TrainingIds);
  os << std::endl;
  os << indent << "ValidationPairs: " << m_ValidationIds.size() << " ";
  printList(m_ValidationIds);
  os << std::endl;
  os << indent << "Method: " << m_Method << std::endl;
  os << indent << "PgdEps: " << m_PgdEps << ", EpsMax: " << m_EpsMax << ", Delta: " << m_Delta << ", Beta: " << m_Beta
     << std::endl;
  os << indent << "PgdSteps: " << m_PgdSteps << ", Alpha: " << m_Alpha << ", BisectionSteps: " << m_BisectionSteps
     << ", AttackNorm: " << m_AttackNorm << ", Criterion: " << m_Criterion << ", Tau: " << m_Tau << std::endl;
  os << indent << "TradesBeta: " << m_TradesBeta << ", Bisection: " << m_Bisection
     << ", AdversarialSamples: " << m_AdversarialSamples << ", ResetMisclassified: " << m_ResetMisclassified << std::endl;
  os << indent << "BisectionTolerance: " << m_BisectionTolerance << ", WarmStart: " << (m_WarmStart ? "On" : "Off")
     << std::endl;
  os << indent << "AttackClamp: " << (m_AttackClamp ? "On" : "Off") << " [" << m_AttackClampLow << ", "
     << m_AttackClampHigh << "]" << std::endl;
  os << indent << "Epochs: " << m_Epochs << std::endl;
  os << indent << "IterationsPerEpoch: " << m_IterationsPerEpoch << std::endl;
  os << indent << "BatchSize: " << m_BatchSize << std::endl;
  os << indent << "Optimizer: " << m_Optimizer << std::endl;
  os << indent << "LearningRate: " << m_LearningRate << std::endl;
  os << indent << "Momentum: " << m_Momentum << std::endl;
  os << indent << "WeightDecay: " << m_WeightDecay << std::endl;
  os << indent << "PolyExponent: " << m_PolyExponent << std::endl;
  os << indent << "ForegroundFraction: " << m_ForegroundFraction << std::endl;
  os << indent << "Flips: " << (m_Flips ? "On" : "Off") << std::endl;
  os << indent << "Seed: " << m_Seed << std::endl;
  os << indent << "ValidateEvery: " << m_ValidateEvery << std::endl;
  os << indent << "Device: " << m_Device << std::endl;
  os << indent << "Threads: " << m_Threads << std::endl;
  os << indent << "CheckpointFileName: " << m_CheckpointFileName << std::endl;
  os << indent << "LogFileName: " << m_LogFileName << std::endl;
  os << indent << "ResumeFileName: " << m_ResumeFileName << std::endl;
  os << indent << "PatchSize: ";
  printList(m_PatchSize);
  os << std::endl;
  os << indent << "NetworkDimension: " << m_NetworkDimension << std::endl;
  os << indent << "BaseFeatures: " << m_BaseFeatures << std::endl;
  os << indent << "MaxFeatures: " << m_MaxFeatures << std::endl;
  os << indent << "Stages: " << m_Stages << std::endl;
  os << indent << "Norm: " << m_Norm << std::endl;
  os << indent << "LabelNames: ";
  printList(m_LabelNames);
  os << std::endl;
  os << indent << "Normalization: " << m_Normalization.kindName();
  if (m_Normalization.kind == ima::Normalization::Kind::CTWindow)
  {
    os << " [" << m_Normalization.windowLow << ", " << m_Normalization.windowHigh << "]";
  }
  else if (m_Normalization.nonzeroMask)
  {
    os << " (nonzero mask)";
  }
  os << std::endl;
  os << indent << "InitialModelFileName: " << m_InitialModelFileName << std::endl;
  os << indent << "LastEpochReport: epoch " << m_LastEpochReport.epoch << ", loss " << m_LastEpochReport.loss
     << std::endl;
  os << indent << "Model: " << (m_Model ? "trained" : "(none)") << std::endl;
}
} // namespace itk

#endif // itkUNetTrainer_hxx
