// Macro differences between the ITK versions the ITK layer supports (5.2 on Debian, 5.4, 6.x).
#ifndef itkIMACompatibility_h
#define itkIMACompatibility_h

#include "itkMacro.h"

// ITK 5.4 replaced itkTypeMacro(thisClass, superclass) by itkOverrideGetNameOfClassMacro(thisClass);
// ITK 6 removes the old macro.
#if defined(itkOverrideGetNameOfClassMacro)
#  define imaITKTypeMacro(thisClass, superclass) itkOverrideGetNameOfClassMacro(thisClass)
#else
#  define imaITKTypeMacro(thisClass, superclass) itkTypeMacro(thisClass, superclass)
#endif

// ITK 5 declares VerifyInputInformation() with ITKv5_CONST (const, except under ITK 5's
// ITKV4_COMPATIBILITY); later versions declare it const and may drop the macro.
#if defined(ITKv5_CONST)
#  define imaITKv5Const ITKv5_CONST
#else
#  define imaITKv5Const const
#endif

#endif // itkIMACompatibility_h
