// A pipeline data object holding a shared ima::Model, so that a model can be the output of a
// process object (itk::UNetTrainer) without the ITK layer seeing torch types.
#ifndef itkIMAModelObject_h
#define itkIMAModelObject_h

#include <memory>
#include <ostream>

#include "itkDataObject.h"
#include "itkObjectFactory.h"
#include "itkIMACompatibility.h"

#include "ima/Model.h"

namespace itk
{
/** One line describing a model for PrintSelf ("unet, 3D, 1 input channel(s), 3 classes"), or
 * `none` when there is no model. */
inline void
PrintIMAModelSummary(std::ostream & os, const ima::Model * model, const char * none)
{
  if (!model)
  {
    os << none << std::endl;
    return;
  }
  const auto & spec = model->metadata().network;
  os << spec.kind << ", " << spec.dims << "D, " << spec.inChannels << " input channel(s), " << spec.classes
     << " classes" << std::endl;
}

/** \class IMAModelObject
 * \brief DataObject holding a std::shared_ptr<ima::Model> (null until a model is set).
 *
 * The model is shared, not copied: filters that receive it run inference on the same network.
 * \ingroup IMASegmentation
 */
class IMAModelObject : public DataObject
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(IMAModelObject);

  using Self = IMAModelObject;
  using Superclass = DataObject;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;
  using ModelPointer = std::shared_ptr<ima::Model>;

  itkNewMacro(Self);
  imaITKTypeMacro(IMAModelObject, DataObject);

  void
  SetModel(ModelPointer model)
  {
    if (model != m_Model)
    {
      m_Model = std::move(model);
      this->Modified();
    }
  }
  const ModelPointer &
  GetModel() const
  {
    return m_Model;
  }

  // A fresh object holds no model.
  void
  Initialize() override
  {
    Superclass::Initialize();
    m_Model.reset();
  }

  void
  Graft(const DataObject * data) override
  {
    if (const auto * other = dynamic_cast<const Self *>(data))
    {
      this->SetModel(other->m_Model);
    }
  }

protected:
  IMAModelObject() = default;
  ~IMAModelObject() override = default;

  void
  PrintSelf(std::ostream & os, Indent indent) const override
  {
    Superclass::PrintSelf(os, indent);
    os << indent << "Model: ";
    PrintIMAModelSummary(os, m_Model.get(), "(none)");
  }

private:
  ModelPointer m_Model;
};
} // namespace itk

#endif // itkIMAModelObject_h
