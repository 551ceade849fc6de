// Runs a call into the IMA core and translates its exceptions into ITK's: ima::Cancelled (a
// progress callback asked to stop) -> itk::ProcessAborted, any other std::exception (ima::Error,
// libtorch errors) -> itk::ExceptionObject carrying the core's message.
#ifndef itkIMACoreCall_h
#define itkIMACoreCall_h

#include <exception>
#include <string>
#include <utility>

#include "itkMacro.h" // declares itk::ExceptionObject and itk::ProcessAborted
#include "itkObject.h"

#include "ima/Error.h"

namespace itk
{
template <typename TFunction>
auto
CallIMACore(const Object * caller, TFunction && function) -> decltype(function())
{
  const std::string location = caller != nullptr ? caller->GetNameOfClass() : "IMA core";
  try
  {
    return std::forward<TFunction>(function)();
  }
  catch (const ExceptionObject &)
  {
    throw; // already ITK's (e.g. thrown by an observer)
  }
  catch (const ima::Cancelled &)
  {
    ProcessAborted aborted(__FILE__, __LINE__);
    aborted.SetLocation(location);
    throw aborted;
  }
  catch (const std::exception & error)
  {
    throw ExceptionObject(std::string(__FILE__), __LINE__, std::string(error.what()), location);
  }
}
} // namespace itk

#endif // itkIMACoreCall_h
