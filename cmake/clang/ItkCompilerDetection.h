/* Read first in every unit of the clang sanitizer build (cmake/Sanitizers.cmake, -include).
 * Debian's ITK 5.2 ships the compiler detection of GCC only: its itk_compiler_detection.h stops with
 * "Unsupported compiler" under clang. Here that header is read once, before anything else, with
 * clang presented as the GCC 12 it is compatible with; its include guard then keeps ITK from reading
 * it again. It only defines ITK's C++ feature macros (ITK_COMPILER_CXX_*, ITK_NOEXCEPT, ...), which
 * all hold for clang 14 in C++17. */
#if defined(__clang__) && defined(__has_include)
#if __has_include(<itk_compiler_detection.h>)
#pragma push_macro("__clang__")
#pragma push_macro("__GNUC__")
#pragma push_macro("__GNUC_MINOR__")
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wbuiltin-macro-redefined"
#undef __clang__
#undef __GNUC__
#undef __GNUC_MINOR__
#define __GNUC__ 12
#define __GNUC_MINOR__ 2
#include <itk_compiler_detection.h>
#pragma clang diagnostic pop
#pragma pop_macro("__GNUC_MINOR__")
#pragma pop_macro("__GNUC__")
#pragma pop_macro("__clang__")
#endif
#endif
