#ifndef itkUNetTrainer_h
#define itkUNetTrainer_h

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "itkImage.h"
#include "itkProcessObject.h"
#include "itkIMACompatibility.h"
#include "itkIMAModelObject.h"

#include "ima/Model.h"
#include "ima/NewModel.h"
#include "ima/Normalization.h"
#include "ima/TrainSegmentation.h"
#include "ima/Training.h"
#include "ima/TrainingSettings.h"

namespace itk
{
/** \class UNetTrainer
 * \brief Trains a U-Net segmentation model on image/label pairs (supervised, nnU-Net defaults).
 *
 * Inputs are pairs of a raw-intensity image (scalar or itk::VectorImage, one component per
 * network input channel) and a label image (0 = background, 1..K = structures) on the same grid.
 * The network either is new, built from the network parameters below (NetworkDimension,
 * BaseFeatures, Stages, Norm, LabelNames, Normalization, PatchSize), or is loaded from
 * InitialModelFileName and fine-tuned (its own architecture, labels and normalisation are kept).
 *
 * Update() runs the whole training. After every epoch the trainer stores the epoch's report
 * (GetLastEpochReport()) and invokes an IterationEvent. Progress (ProgressEvent) is reported per
 * iteration over the whole run. Setting AbortGenerateData, from any of these observers, stops
 * the run at the next iteration and Update() throws itk::ProcessAborted; GetModel() then holds
 * the weights reached so far and a checkpoint (when CheckpointFileName is set) holds the last
 * finished epoch.
 *
 * The trained model is GetModel() (shared, e.g. for UNetSegmentationImageFilter::SetModel()),
 * the decorated output GetModelOutput(), and can be written with SaveModel().
 *
 * \ingroup IMASegmentation
 */
template <typename TImage, typename TLabelImage = Image<unsigned char, TImage::ImageDimension>>
class ITK_TEMPLATE_EXPORT UNetTrainer : public ProcessObject
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(UNetTrainer);

  using Self = UNetTrainer;
  using Superclass = ProcessObject;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  static constexpr unsigned int ImageDimension = TImage::ImageDimension;
  static_assert(TLabelImage::ImageDimension == ImageDimension, "images and labels must have the same dimension");

  using ImageType = TImage;
  using LabelImageType = TLabelImage;
  using ModelPointer = std::shared_ptr<ima::Model>;
  using ModelObjectType = IMAModelObject;
  using PatchSizeType = std::vector<int64_t>;
  using LabelNamesType = std::vector<std::string>;
  using EpochReportsType = std::vector<ima::EpochReport>;

  itkNewMacro(Self);
  imaITKTypeMacro(UNetTrainer, ProcessObject);

  /** Adds a training case. `id` names the case in messages and must be stable across runs
   * (e.g. the file stem); empty = "case<N>". Image and labels must have the same size. */
  void
  AddTrainingPair(const ImageType * image, const LabelImageType * labels, const std::string & id = "");
  /** Adds a validation case (Dice after every ValidateEvery epochs). */
  void
  AddValidationPair(const ImageType * image, const LabelImageType * labels, const std::string & id = "");
  void
  ClearTrainingPairs();
  void
  ClearValidationPairs();
  unsigned int
  GetNumberOfTrainingPairs() const
  {
    return static_cast<unsigned int>(m_TrainingIds.size());
  }
  unsigned int
  GetNumberOfValidationPairs() const
  {
    return static_cast<unsigned int>(m_ValidationIds.size());
  }

  /** @name Training method: "standard", "pgd" (fixed-eps adversarial training), "trades" or
   * "ima" (increasing margins, docs/architecture.md §5), with the adversarial options
   * (ima::AdversarialOptions, whose comments give the defaults; budgets in normalised intensity
   * units). With "ima" every epoch report carries the margin
   * statistics (EpochReport::margins). */
  //@{
  itkSetMacro(Method, std::string);
  itkGetConstReferenceMacro(Method, std::string);
  itkSetMacro(PgdEps, double);  // "pgd", "trades": the fixed budget
  itkGetConstMacro(PgdEps, double);
  itkSetMacro(EpsMax, double);
  itkGetConstMacro(EpsMax, double);
  itkSetMacro(Delta, double);  // "ima": initial margin and growth per epoch; 0 (default) = EpsMax / 20
  itkGetConstMacro(Delta, double);
  itkSetMacro(Beta, double);
  itkGetConstMacro(Beta, double);
  itkSetMacro(PgdSteps, int);  // 0 (default) = the method's: 2 for "ima", 20 for "pgd" and "trades"
  itkGetConstMacro(PgdSteps, int);
  itkSetMacro(Alpha, double);
  itkGetConstMacro(Alpha, double);
  itkSetMacro(BisectionSteps, int);
  itkGetConstMacro(BisectionSteps, int);
  /** "ima": stop a sample's bisection once its bracket is at most this fraction of its margin, in
   * [0, 1); 0 = always BisectionSteps halvings; 0.05 (default). */
  itkSetMacro(BisectionTolerance, double);
  itkGetConstMacro(BisectionTolerance, double);
  /** "ima": start each sample's attack from its previous visit's adversarial point (On, the
   * default) or at random (Off). */
  itkSetMacro(WarmStart, bool);
  itkGetConstMacro(WarmStart, bool);
  itkBooleanMacro(WarmStart);
  itkSetMacro(AttackNorm, std::string);
  itkGetConstReferenceMacro(AttackNorm, std::string);
  itkSetMacro(Criterion, std::string);
  itkGetConstReferenceMacro(Criterion, std::string);
  itkSetMacro(Tau, double);
  itkGetConstMacro(Tau, double);
  itkSetMacro(TradesBeta, double);
  itkGetConstMacro(TradesBeta, double);
  /** "midpoint", "inside" or "outside": which end of the bisection becomes the adversarial sample. */
  itkSetMacro(Bisection, std::string);
  itkGetConstReferenceMacro(Bisection, std::string);
  /** "auto", "all" or "crossed": which samples enter IMA's adversarial loss. */
  itkSetMacro(AdversarialSamples, std::string);
  itkGetConstReferenceMacro(AdversarialSamples, std::string);
  itkSetMacro(ResetMisclassified, bool);
  itkGetConstMacro(ResetMisclassified, bool);
  itkBooleanMacro(ResetMisclassified);
  /** "pgd", "trades", "ima": keep the training attacks' points in [AttackClampLow,
   * AttackClampHigh] (normalised intensity units, low < high), e.g. [0, 1] for inputs scaled to
   * [0, 1]. Off by default, as for z-scored input, which has no such range. */
  itkSetMacro(AttackClamp, bool);
  itkGetConstMacro(AttackClamp, bool);
  itkBooleanMacro(AttackClamp);
  itkSetMacro(AttackClampLow, double);
  itkGetConstMacro(AttackClampLow, double);
  itkSetMacro(AttackClampHigh, double);
  itkGetConstMacro(AttackClampHigh, double);
  //@}

  /** @name Training options (ima::TrainingOptions) */
  //@{
  itkSetMacro(Epochs, int);
  itkGetConstMacro(Epochs, int);
  itkSetMacro(IterationsPerEpoch, int);
  itkGetConstMacro(IterationsPerEpoch, int);
  /** Patches per minibatch; 0 (the default) = 2 for a 3D network, 8 for a 2D one, as on every route. */
  itkSetMacro(BatchSize, int);
  itkGetConstMacro(BatchSize, int);
  /** "sgd" (Nesterov, poly decay) or "adam". */
  itkSetMacro(Optimizer, std::string);
  itkGetConstReferenceMacro(Optimizer, std::string);
  itkSetMacro(LearningRate, double);
  itkGetConstMacro(LearningRate, double);
  itkSetMacro(Momentum, double);
  itkGetConstMacro(Momentum, double);
  itkSetMacro(WeightDecay, double);
  itkGetConstMacro(WeightDecay, double);
  itkSetMacro(PolyExponent, double);
  itkGetConstMacro(PolyExponent, double);
  /** Share of patches centred on a foreground voxel. */
  itkSetMacro(ForegroundFraction, double);
  itkGetConstMacro(ForegroundFraction, double);
  /** Random axis flips as augmentation. */
  itkSetMacro(Flips, bool);
  itkGetConstMacro(Flips, bool);
  itkBooleanMacro(Flips);
  /** Seeds network initialisation, patch sampling and augmentation. */
  itkSetMacro(Seed, uint64_t);
  itkGetConstMacro(Seed, uint64_t);
  /** Epochs between validation passes; 0 = never. */
  itkSetMacro(ValidateEvery, int);
  itkGetConstMacro(ValidateEvery, int);
  /** "auto", "cpu", "cuda" or "cuda:N". */
  itkSetMacro(Device, std::string);
  itkGetConstReferenceMacro(Device, std::string);
  /** CPU threads for libtorch; 0 = all cores. */
  itkSetMacro(Threads, int);
  itkGetConstMacro(Threads, int);
  /** Written atomically after every epoch when set. */
  itkSetMacro(CheckpointFileName, std::string);
  itkGetConstReferenceMacro(CheckpointFileName, std::string);
  /** JSON lines, one per epoch, when set. */
  itkSetMacro(LogFileName, std::string);
  itkGetConstReferenceMacro(LogFileName, std::string);
  /** Continue from this checkpoint (written by a run with the same model and options). */
  itkSetMacro(ResumeFileName, std::string);
  itkGetConstReferenceMacro(ResumeFileName, std::string);
  /** Training patch size in voxels, ITK order (x, y[, z]), one entry per network dimension.
   * Empty: the initial model's patch size, or for a new model the command line's default
   * (ima::defaultPatchSize): the smallest training image's whole slice (2D) or up to 64 voxels
   * per axis (3D), rounded down to a multiple of 2^(Stages-1). */
  virtual void
  SetPatchSize(const PatchSizeType & patchSize);
  const PatchSizeType &
  GetPatchSize() const
  {
    return m_PatchSize;
  }
  //@}

  /** @name Network of a new model (ignored when InitialModelFileName is set) */
  //@{
  /** 2 (slice-wise network) or 3; default: the image dimension. */
  itkSetMacro(NetworkDimension, unsigned int);
  itkGetConstMacro(NetworkDimension, unsigned int);
  itkSetMacro(BaseFeatures, int);
  itkGetConstMacro(BaseFeatures, int);
  /** Cap on features per stage; 0 = nnU-Net's (320 in 3D, 512 in 2D). */
  itkSetMacro(MaxFeatures, int);
  itkGetConstMacro(MaxFeatures, int);
  itkSetMacro(Stages, int);
  itkGetConstMacro(Stages, int);
  /** "instance", "batch" or "none". */
  itkSetMacro(Norm, std::string);
  itkGetConstReferenceMacro(Norm, std::string);
  /** Names of labels 1..K; K + 1 classes. Empty: K = the largest value in the training labels. */
  virtual void
  SetLabelNames(const LabelNamesType & names);
  const LabelNamesType &
  GetLabelNames() const
  {
    return m_LabelNames;
  }
  /** Intensity normalisation stored in the model (default: z-score per volume). */
  virtual void
  SetNormalization(const ima::Normalization & normalization);
  const ima::Normalization &
  GetNormalization() const
  {
    return m_Normalization;
  }
  //@}

  /** Fine-tune this .imamodel file instead of creating a new network. */
  itkSetMacro(InitialModelFileName, std::string);
  itkGetConstReferenceMacro(InitialModelFileName, std::string);

  /** Report of the last finished epoch (epoch 0 before the first). */
  const ima::EpochReport &
  GetLastEpochReport() const
  {
    return m_LastEpochReport;
  }
  /** Reports of all epochs finished by the last Update(). */
  const EpochReportsType &
  GetEpochReports() const
  {
    return m_EpochReports;
  }

  /** The model trained by the last Update() (null before). */
  const ModelPointer &
  GetModel() const
  {
    return m_Model;
  }
  /** The trained model as a pipeline output. */
  ModelObjectType *
  GetModelOutput();
  const ModelObjectType *
  GetModelOutput() const;

  /** Writes the trained model as an .imamodel file (atomically). */
  void
  SaveModel(const std::string & fileName) const;

  using Superclass::MakeOutput;
  DataObjectPointer
  MakeOutput(DataObjectPointerArraySizeType idx) override;

protected:
  UNetTrainer();
  ~UNetTrainer() override = default;

  void
  PrintSelf(std::ostream & os, Indent indent) const override;

  void
  GenerateData() override;

  /** The settings of a new model (the core builds its metadata for the cases: channels from the
   * images, classes from the label names or the largest label). */
  ima::NewModelSettings
  MakeNewModelSettings() const;

  /** The training options of the parameters, checked by the core (ima::trainingOptionsOf);
   * batch, patch, optimiser details, files and runtime are left to GenerateData(). */
  ima::TrainingOptions
  CheckedTrainingOptions() const;

private:
  void
  AddPair(bool training, const ImageType * image, const LabelImageType * labels, const std::string & id);
  std::vector<ima::LabelledCase>
  ConvertPairs(bool training) const;

  std::vector<std::string> m_TrainingIds;
  std::vector<std::string> m_ValidationIds;

  std::string m_Method{ "standard" };
  double      m_PgdEps{ 0.5 };
  double      m_EpsMax{ 1.0 };
  double      m_Delta{ 0.0 };
  double      m_Beta{ 0.5 };
  int         m_PgdSteps{ 0 };
  double      m_Alpha{ 4.0 };
  int         m_BisectionSteps{ 10 };
  double      m_BisectionTolerance{ 0.05 };
  bool        m_WarmStart{ true };
  std::string m_AttackNorm{ "l2" };
  std::string m_Criterion{ "max-dice" };
  double      m_Tau{ 0.6 };
  double      m_TradesBeta{ 6.0 };
  std::string m_Bisection{ "midpoint" };
  std::string m_AdversarialSamples{ "auto" };
  bool        m_ResetMisclassified{ false };
  bool        m_AttackClamp{ false };
  double      m_AttackClampLow{ 0.0 };
  double      m_AttackClampHigh{ 1.0 };
  int         m_Epochs{ 20 };
  int         m_IterationsPerEpoch{ 50 };
  int         m_BatchSize{ 0 };
  std::string m_Optimizer{ "sgd" };
  double      m_LearningRate{ 0.01 };
  double      m_Momentum{ 0.99 };
  double      m_WeightDecay{ 3e-5 };
  double      m_PolyExponent{ 0.9 };
  double      m_ForegroundFraction{ 0.33 };
  bool        m_Flips{ true };
  uint64_t    m_Seed{ 1 };
  int         m_ValidateEvery{ 1 };
  std::string m_Device{ "auto" };
  int         m_Threads{ 0 };
  std::string m_CheckpointFileName;
  std::string m_LogFileName;
  std::string m_ResumeFileName;
  PatchSizeType m_PatchSize;

  unsigned int       m_NetworkDimension{ ImageDimension };
  int                m_BaseFeatures{ 32 };
  int                m_MaxFeatures{ 0 };
  int                m_Stages{ 4 };
  std::string        m_Norm{ "instance" };
  LabelNamesType     m_LabelNames;
  ima::Normalization m_Normalization;
  std::string        m_InitialModelFileName;

  ima::EpochReport m_LastEpochReport;
  EpochReportsType m_EpochReports;
  ModelPointer     m_Model;
};
} // namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkUNetTrainer.hxx"
#endif

#endif // itkUNetTrainer_h
