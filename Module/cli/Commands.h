// The `ima` subcommands. Each builds its ArgumentParser (for parsing and for `ima help CMD`) and
// runs from the parsed arguments, returning the exit code. Errors are thrown: ima::Error and
// friends become exit code 1, UsageError exit code 2 (see main.cpp).
#pragma once
#include <string>
#include <vector>

#include "ArgumentParser.h"
#include "ima/io/CasePairs.h"
#include "ima/io/ImageFiles.h"

namespace ima::cli {

struct Command {
  const char* name;
  const char* summary;
  ArgumentParser (*parser)();
  int (*run)(const ArgumentParser& args);
  // A group of git-style subcommands (`ima batch segment`) instead of parser and run.
  const std::vector<Command>& (*subcommands)() = nullptr;
};

ArgumentParser phantomsParser();
int runPhantoms(const ArgumentParser& args);
ArgumentParser trainParser();
int runTrain(const ArgumentParser& args);
ArgumentParser segmentParser();
int runSegment(const ArgumentParser& args);
ArgumentParser infoParser();
int runInfo(const ArgumentParser& args);
ArgumentParser attackParser();
int runAttack(const ArgumentParser& args);
ArgumentParser evaluateParser();
int runEvaluate(const ArgumentParser& args);
ArgumentParser compareParser();
int runCompare(const ArgumentParser& args);
ArgumentParser diceParser();
int runDice(const ArgumentParser& args);
ArgumentParser importParser();  // ImportCommand.cpp
int runImport(const ArgumentParser& args);
ArgumentParser exportParser();
int runExport(const ArgumentParser& args);

ArgumentParser batchSegmentParser();
int runBatchSegment(const ArgumentParser& args);
ArgumentParser batchHardenParser();
int runBatchHarden(const ArgumentParser& args);

const std::vector<Command>& commands();
const std::vector<Command>& batchCommands();  // `ima batch ...`

// --device, --threads and --precision, declared alike by every command that computes.
ArgumentParser& addRuntimeOptions(ArgumentParser& p);
// --device after a format check (cpu, cuda, cuda:N, auto): a malformed name is a usage error,
// an unavailable device is reported later by the core (exit code 1).
std::string checkedDevice(const ArgumentParser& args);

// DICOM input options: --allow-uneven, and --series (withSeries) for commands reading one input.
void addDicomOptions(ArgumentParser& parser, bool withSeries);
io::DicomInput dicomInput(const ArgumentParser& args, bool withSeries);
// io::loadCases under a progress bar named `label` (none with `quiet`); Ctrl-C stops the loading.
std::vector<LabelledCase> loadCases(const std::vector<io::CasePair>& pairs, const std::string& label, bool quiet,
                                    const io::DicomInput& dicom);

// "IMASegmentation 0.1.0".
std::string versionString();

}  // namespace ima::cli
