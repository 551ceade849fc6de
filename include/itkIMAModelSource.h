// Where a filter's model comes from, shared by the filters that run one: an .imamodel file
// (loaded when the pipeline first needs it and again whenever the name changes) or an in-memory
// model (e.g. from itk::UNetTrainer); whichever was set last is used. Also the progress callback
// through which the core reports to a process object and learns that it was aborted.
#ifndef itkIMAModelSource_h
#define itkIMAModelSource_h

#include <memory>
#include <ostream>
#include <string>

#include "itkIMACoreCall.h"
#include "itkIMAModelObject.h"
#include "itkIndent.h"
#include "itkProcessObject.h"

#include "ima/Model.h"
#include "ima/Runtime.h"

namespace itk
{
class IMAModelSource
{
public:
  using ModelPointer = std::shared_ptr<ima::Model>;

  /** Both setters return whether anything changed (the owner then calls Modified()). Setting a
   * file name replaces a model given by SetModel(); SetModel() clears the file name. */
  bool
  SetFileName(const std::string & fileName)
  {
    if (fileName == m_FileName)
    {
      return false;
    }
    m_FileName = fileName;
    return true;
  }
  bool
  SetModel(ModelPointer model)
  {
    if (model == m_Model && m_FileName.empty())
    {
      return false;
    }
    m_Model = std::move(model);
    m_FileName.clear();
    m_LoadedFileName.clear();
    return true;
  }
  const std::string &
  GetFileName() const
  {
    return m_FileName;
  }
  /** The model in use: the one set, or the one loaded from the file (null before the first load). */
  const ModelPointer &
  GetModel() const
  {
    return m_Model;
  }

  /** Loads the file when no model is held or the name changed since the last load; errors become
   * itk::ExceptionObject located at `caller`. */
  const ima::Model &
  Ensure(const Object * caller)
  {
    if (!m_FileName.empty() && (!m_Model || m_LoadedFileName != m_FileName))
    {
      m_Model.reset(); // a failed load must not leave the previous file's model in use
      m_Model = std::make_shared<ima::Model>(CallIMACore(caller, [this] { return ima::Model::load(m_FileName); }));
      m_LoadedFileName = m_FileName;
    }
    if (!m_Model)
    {
      throw ExceptionObject(__FILE__, __LINE__, "no model: call SetModelFileName() or SetModel() before Update()",
                            caller->GetNameOfClass());
    }
    return *m_Model;
  }

  void
  Print(std::ostream & os, Indent indent) const
  {
    os << indent << "ModelFileName: " << m_FileName << std::endl;
    os << indent << "Model: ";
    PrintIMAModelSummary(os, m_Model.get(), "(not loaded)");
  }

private:
  std::string  m_FileName;
  std::string  m_LoadedFileName; // file m_Model came from; empty for SetModel()
  ModelPointer m_Model;
};

/** Reports the core's progress to `process` and tells the core to stop once it is aborted. */
inline ima::ProgressCallback
IMAProgressCallback(ProcessObject * process)
{
  return [process](double fraction) {
    process->UpdateProgress(static_cast<float>(fraction));
    return !process->GetAbortGenerateData();
  };
}
} // namespace itk

#endif // itkIMAModelSource_h
