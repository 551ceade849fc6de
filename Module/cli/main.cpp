// `ima`: git-style command line over the IMASegmentation core. Exit codes: 0 success, 1 failure,
// 2 usage error, 128 + the signal when SIGINT/SIGTERM stopped it (docs/architecture.md §8).
#include <csignal>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "itkMacro.h"  // itk::ExceptionObject

#include "ima/Error.h"
#include "ima/FreedMemory.h"

#include "Commands.h"
#include "Progress.h"

#ifndef IMA_VERSION_STRING
#define IMA_VERSION_STRING "unknown"
#endif

namespace ima::cli {

std::string versionString() { return std::string("IMASegmentation ") + IMA_VERSION_STRING; }

ArgumentParser& addRuntimeOptions(ArgumentParser& p) {
  return p.option("device", "DEVICE", "cpu, cuda, cuda:N or auto", "auto")
      .option("threads", "N", "CPU threads (0 = all cores)", "0")
      .option("precision", "P", "forward passes in fp32, bf16, fp16 (CUDA) or auto (bf16 where the hardware has it)", "fp32")
      .choices("precision", {"fp32", "bf16", "fp16", "auto"});
}

std::string checkedDevice(const ArgumentParser& args) {
  const std::string device = args.get("device");
  if (device == "cpu" || device == "cuda" || device == "auto") return device;
  if (device.rfind("cuda:", 0) == 0 && device.size() > 5 && device.size() <= 8 &&
      device.find_first_not_of("0123456789", 5) == std::string::npos)
    return device;
  throw UsageError("invalid value '" + device + "' for --device (expected cpu, cuda, cuda:N or auto)");
}

void addDicomOptions(ArgumentParser& parser, bool withSeries) {
  if (withSeries)
    parser.option("series", "UID", "DICOM input holding several series: the one to read (UID, or UID.partK)");
  parser.flag("allow-uneven", "DICOM input: accept uneven slice distances (missing slices) with a warning");
}

io::DicomInput dicomInput(const ArgumentParser& args, bool withSeries) {
  io::DicomInput input;
  if (withSeries && args.given("series")) input.series = args.get("series");
  input.allowUneven = args.flagSet("allow-uneven");
  return input;
}

std::vector<LabelledCase> loadCases(const std::vector<io::CasePair>& pairs, const std::string& label, bool quiet,
                                    const io::DicomInput& dicom) {
  Progress progress(label, quiet);
  std::vector<LabelledCase> cases = io::loadCases(pairs, dicom, progress.callback());
  progress.finish();
  return cases;
}

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"phantoms", "write the synthetic phantom data set (images + labels)", phantomsParser, runPhantoms},
      {"train", "train a segmentation model on image/label folders", trainParser, runTrain},
      {"segment", "segment an image with a model", segmentParser, runSegment},
      {"info", "print the metadata of a model file", infoParser, runInfo},
      {"attack", "writes the adversarial version of an image (per-patch attack)", attackParser, runAttack},
      {"evaluate", "robustness under attacks at several budgets: JSON, CSV and a plot", evaluateParser, runEvaluate},
      {"compare", "several models' robustness reports side by side: table, plot, AUC differences", compareParser,
       runCompare},
      {"dice", "Dice overlap per label between a prediction and a reference", diceParser, runDice},
      {"import", "import a TorchScript network (nnU-Net, MONAI) as a model", importParser, runImport},
      {"export", "hand a model back to PyTorch (TorchScript or state dict)", exportParser, runExport},
      {"batch", "batch work over a DICOM archive (segment, harden)", nullptr, nullptr, batchCommands},
  };
  return list;
}

const std::vector<Command>& batchCommands() {
  static const std::vector<Command> list = {
      {"segment", "segment every series of an archive; manifest, resume, shards", batchSegmentParser,
       runBatchSegment},
      {"harden", "fine-tune a model with IMA on series labelled by DICOM SEGs", batchHardenParser, runBatchHarden},
  };
  return list;
}

}  // namespace ima::cli

namespace {

using namespace ima::cli;

// One line per command: its name in a column of 10 (at least one space after a longer name).
template <typename Commands>
void printCommandTable(std::ostream& out, const Commands& list) {
  for (const auto& c : list) {
    const std::string name = c.name;
    out << "  " << name << std::string(name.size() < 10 ? 10 - name.size() : 1, ' ') << c.summary << "\n";
  }
}

void printUsage(std::ostream& out) {
  out << "usage: ima <command> [options]\n"
         "       ima help <command>\n\n"
         "Medical image segmentation with U-Nets hardened by IMA adversarial training.\n\n"
         "commands:\n";
  printCommandTable(out, commands());
  out << "\noptions:\n"
         "  -h, --help     show this help and exit\n"
         "  --version      print the version and exit\n\n"
         "Run 'ima <command> --help' for the options of a command.\n";
}

// `ima GROUP` without a subcommand, or with --help.
void printGroupUsage(std::ostream& out, const Command& group) {
  out << "usage: ima " << group.name << " <command> [options]\n\n" << group.summary << "\n\ncommands:\n";
  printCommandTable(out, group.subcommands());
  out << "\nRun 'ima " << group.name << " <command> --help' for the options of a command.\n";
}

const Command* findCommand(const std::string& name, const std::vector<Command>& list = commands()) {
  for (const auto& c : list)
    if (name == c.name) return &c;
  return nullptr;
}

int usageError(const std::string& message, const std::string& command) {
  std::cerr << "ima: error: " << message << "\n";
  std::cerr << (command.empty() ? std::string("Try 'ima --help'.")
                                : "Try 'ima " + command + " --help'.")
            << "\n";
  return 2;
}

int dispatch(const std::vector<std::string>& argv) {
  if (argv.empty()) {
    printUsage(std::cerr);
    return 2;
  }
  const std::string& first = argv[0];
  if (first == "--help" || first == "-h") {
    printUsage(std::cout);
    return 0;
  }
  if (first == "--version") {
    std::cout << versionString() << "\n";
    return 0;
  }
  if (first == "help") {
    if (argv.size() == 1) {
      printUsage(std::cout);
      return 0;
    }
    const Command* c = findCommand(argv[1]);
    if (!c) return usageError("unknown command '" + argv[1] + "'", "");
    if (c->subcommands) {
      const Command* sub = argv.size() > 2 ? findCommand(argv[2], c->subcommands()) : nullptr;
      if (argv.size() > 2 && !sub) return usageError("unknown command '" + argv[1] + " " + argv[2] + "'", argv[1]);
      if (sub) std::cout << sub->parser().help();
      else printGroupUsage(std::cout, *c);
      return 0;
    }
    std::cout << c->parser().help();
    return 0;
  }
  const Command* command = findCommand(first);
  if (!command) {
    if (!first.empty() && first[0] == '-') return usageError("unknown option '" + first + "'", "");
    return usageError("unknown command '" + first + "'", "");
  }
  std::string name = command->name;
  auto rest = std::vector<std::string>(argv.begin() + 1, argv.end());
  if (command->subcommands) {
    if (rest.empty() || rest[0] == "--help" || rest[0] == "-h") {
      printGroupUsage(rest.empty() ? std::cerr : std::cout, *command);
      return rest.empty() ? 2 : 0;
    }
    const Command* sub = findCommand(rest[0], command->subcommands());
    if (!sub) return usageError("unknown command '" + name + " " + rest[0] + "'", name);
    command = sub;
    name += " " + rest[0];
    rest.erase(rest.begin());
  }
  ArgumentParser parser = command->parser();
  try {
    if (!parser.parse(rest)) {
      std::cout << parser.help();
      return 0;
    }
    return command->run(parser);
  } catch (const UsageError& e) {
    return usageError(e.what(), name);
  }
}

// A libtorch error (c10::Error) carries a C++ backtrace after its message, which tells a user
// nothing; its allocator's failures are reported as out of memory like std::bad_alloc.
std::string withoutBacktrace(const std::string& message) {
  const std::string text = message.substr(0, message.find("\nException raised from"));
  return text.find("can't allocate memory") != std::string::npos ? "out of memory (" + text + ")" : text;
}

}  // namespace

int main(int argc, char** argv) {
  installInterruptHandler();
  ima::keepFreedMemory();  // training's tensors reuse freed pages instead of faulting new ones in
  try {
    return dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const ima::Cancelled&) {
    // 130 for SIGINT, 143 for SIGTERM: a script sees the command as stopped, not as failed.
    const int signal = interruptSignal();
    std::cerr << "ima: interrupted" << (signal ? " by " + std::string(strsignal(signal)) : std::string()) << "\n";
    return 128 + (signal ? signal : SIGINT);
  } catch (const ima::Error& e) {
    std::cerr << "ima: error: " << e.what() << "\n";
  } catch (const itk::ExceptionObject& e) {
    std::cerr << "ima: error: " << e.GetDescription() << "\n";
  } catch (const std::bad_alloc&) {
    std::cerr << "ima: error: out of memory\n";
  } catch (const std::exception& e) {
    std::cerr << "ima: error: " << withoutBacktrace(e.what()) << "\n";
  } catch (...) {
    std::cerr << "ima: error: unexpected failure\n";
  }
  return 1;
}
