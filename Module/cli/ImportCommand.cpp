// `ima import`: a TorchScript network (nnU-Net, MONAI, plain PyTorch) becomes a .imamodel, with its
// metadata from a JSON sidecar (the schema `ima info --json` prints) or from flags. TorchScript is
// code: only trusted files may be imported (docs/import.md).
#include <iostream>

#include "ima/Model.h"

#include "Commands.h"

namespace ima::cli {

ArgumentParser importParser() {
  ArgumentParser p("import", "Import a TorchScript network (torch.jit.save of a traced or scripted module, e.g.\n"
                             "from nnU-Net or MONAI) as a .imamodel that every command can use and harden.\n"
                             "The metadata comes from --sidecar (JSON, the schema of 'ima info --json') or\n"
                             "from --dims, --patch, --in-channels, --labels-names, --normalization. One\n"
                             "forward pass on zeros of the patch size checks the network: input channels,\n"
                             "class count, one float logit per voxel. TorchScript is code: import only\n"
                             "files you trust.");
  p.option("torchscript", "FILE", "TorchScript file (.pt)", "", true)
      .option("out", "MODEL", "output model file (.imamodel)", "", true)
      .option("sidecar", "JSON", "metadata sidecar; replaces the metadata flags below")
      .option("dims", "D", "spatial dimensions of the network")
      .choices("dims", {"2", "3"})
      .option("patch", "X,Y[,Z]", "patch size in voxels, ITK order (the network must accept it)")
      .option("in-channels", "N", "input channels", "1")
      .option("labels-names", "NAMES", "names of labels 1..K, comma separated (K+1 classes with background)")
      .option("normalization", "KIND", "intensity normalisation the network was trained with", "zscore")
      .choices("normalization", {"zscore", "ct"})
      .option("window", "LO,HI", "CT window in HU for --normalization ct (mapped to [-1, 1])")
      .flag("force", "overwrite an existing output file")
      .epilog("examples:\n"
              "  ima import --torchscript net.pt --sidecar net.json --out net.imamodel\n"
              "  ima import --torchscript net.pt --dims 3 --patch 64,64,32 --labels-names liver,tumour \\\n"
              "             --normalization ct --window -200,300 --out net.imamodel");
  return p;
}

namespace {

ModelMetadata metadataFromFlags(const ArgumentParser& args) {
  for (const char* name : {"dims", "patch", "labels-names"})
    if (!args.given(name))
      throw UsageError(std::string("--") + name + " is required without --sidecar");
  ModelMetadata m;
  m.network.kind = "torchscript";
  m.network.dims = std::stoi(args.get("dims"));
  m.network.inChannels = args.getIntInRange("in-channels", 1, 64);
  m.patchSize = args.getIntList("patch");
  if (static_cast<int>(m.patchSize.size()) != m.network.dims)
    throw UsageError("--patch has " + std::to_string(m.patchSize.size()) + " values but --dims is " + args.get("dims"));
  for (int64_t p : m.patchSize)
    if (p < 1) throw UsageError("--patch values must be positive");
  const auto names = args.getStringList("labels-names");
  if (names.empty() || names.size() > 255) throw UsageError("--labels-names needs 1 to 255 names");
  for (size_t i = 0; i < names.size(); ++i) {
    LabelInfo l;
    l.value = static_cast<int>(i + 1);
    l.name = names[i];
    m.labels.push_back(l);
  }
  m.network.classes = static_cast<int>(names.size()) + 1;
  if (args.get("normalization") == "ct") {
    if (!args.given("window")) throw UsageError("--normalization ct needs --window LO,HI");
    const auto w = args.getDoubleList("window");
    if (w.size() != 2 || !(w[0] < w[1])) throw UsageError("--window needs two values LO,HI with LO < HI");
    m.normalization.kind = Normalization::Kind::CTWindow;
    m.normalization.windowLow = static_cast<float>(w[0]);
    m.normalization.windowHigh = static_cast<float>(w[1]);
  } else if (args.given("window")) {
    throw UsageError("--window applies to --normalization ct only");
  }
  return m;
}

}  // namespace

int runImport(const ArgumentParser& args) {
  const std::string script = args.get("torchscript"), out = args.get("out");
  if (args.given("sidecar"))
    for (const char* name : {"dims", "patch", "in-channels", "labels-names", "normalization", "window"})
      if (args.given(name))
        throw UsageError(std::string("--") + name + " cannot be combined with --sidecar (the sidecar defines it)");
  const bool fromSidecar = args.given("sidecar");
  const ModelMetadata flags = fromSidecar ? ModelMetadata() : metadataFromFlags(args);
  InputFiles inputs;
  inputs.add(script);
  if (fromSidecar) inputs.add(args.get("sidecar"));
  io::checkOutputFiles(inputs, {{out, "output model"}}, args.flagSet("force"));
  const Model model = fromSidecar ? Model::importTorchScript(script, args.get("sidecar"))
                                  : Model::importTorchScript(script, flags, "the metadata flags");
  model.save(out);
  std::cout << "imported '" << script << "' (" << model.metadata().network.dims << "D, "
            << model.metadata().network.classes << " classes) as " << out << "\n";
  return 0;
}

ArgumentParser exportParser() {
  ArgumentParser p("export", "Hand a model back to PyTorch. --torchscript writes the network of an imported\n"
                             "(and possibly hardened) model as a TorchScript file that torch.jit.load reads:\n"
                             "the imported module with its current weights. --state-dict writes the weights of\n"
                             "any model (the project's own U-Net too) as a file torch.load reads:\n"
                             "{'state_dict': ..., 'metadata': JSON}; imaseg.unet.load(FILE) rebuilds the\n"
                             "U-Net as a torch.nn.Module with them (docs/import.md).");
  p.positional("MODEL", "model file (.imamodel)")
      .option("torchscript", "FILE", "output TorchScript file (.pt); imported models only")
      .option("state-dict", "FILE", "output weights file (.pt) for torch.load")
      .flag("force", "overwrite an existing output file")
      .epilog("examples:\n"
              "  ima export hardened.imamodel --torchscript hardened.pt\n"
              "  ima export unet.imamodel --state-dict unet.pt\n"
              "  python3 -c \"import imaseg.unet; net = imaseg.unet.load('unet.pt')\"");
  return p;
}

int runExport(const ArgumentParser& args) {
  if (args.given("torchscript") == args.given("state-dict"))
    throw UsageError("give exactly one of --torchscript FILE and --state-dict FILE");
  const bool torchScript = args.given("torchscript");
  const std::string out = args.get(torchScript ? "torchscript" : "state-dict");
  io::checkOutputFiles(InputFiles().add(args.get("MODEL")),
                   {{out, torchScript ? "output TorchScript file" : "output weights file"}}, args.flagSet("force"));
  const Model model = Model::load(args.get("MODEL"));
  if (torchScript)
    model.exportTorchScript(out);
  else
    model.exportStateDict(out);
  std::cout << "wrote " << out << "\n";
  return 0;
}

}  // namespace ima::cli
