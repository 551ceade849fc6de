#include "ModuleMain.h"

#include <iostream>
#include <new>

#include "itkMacro.h"  // itk::ExceptionObject

#include "ima/Error.h"
#include "ima/FreedMemory.h"

#include "ArgumentParser.h"  // UsageError
#include "Progress.h"        // installInterruptHandler

#ifndef IMA_VERSION_STRING
#define IMA_VERSION_STRING "unknown"
#endif

namespace ima::slicer {

int runModule(const char* name, const char* xml, int argc, char** argv, ModuleRun run) {
  cli::installInterruptHandler();
  keepFreedMemory();  // as `ima` does: tensors reuse freed pages instead of faulting new ones in
  const std::string program = name;
  auto fail = [&](const std::string& message) {
    std::cerr << program << ": error: " << message << "\n";
    return 1;
  };
  try {
    const ModuleDescription description = ModuleDescription::parse(xml);
    try {
      const ModuleArguments args(description, std::vector<std::string>(argv + 1, argv + argc));
      if (args.xmlRequested()) {
        std::cout << xml;
        return 0;
      }
      if (args.helpRequested()) {
        std::cout << description.usage(program);
        return 0;
      }
      if (args.versionRequested()) {
        std::cout << program << " (IMASegmentation " << IMA_VERSION_STRING << ")\n";
        return 0;
      }
      ReturnParameters returns(description);
      FilterProgress progress(std::cout, program, description.title);
      run(args, progress, returns);
      if (!args.returnParameterFile().empty()) returns.write(args.returnParameterFile());
      progress.finish();
      return 0;
    } catch (const cli::UsageError& e) {
      std::cerr << program << ": error: " << e.what() << "\nTry '" << program << " --help'.\n";
      return 2;
    }
  } catch (const Cancelled&) {
    std::cerr << program << ": cancelled; no output written\n";
    return 1;
  } catch (const Error& e) {
    return fail(e.what());
  } catch (const itk::ExceptionObject& e) {
    return fail(e.GetDescription());
  } catch (const std::bad_alloc&) {
    return fail("out of memory");
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (...) {
    return fail("unexpected failure");
  }
}

}  // namespace ima::slicer
