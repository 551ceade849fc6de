// Fashion-MNIST robustness of the training methods (IMA paper, Ma & Liang): a SmallCNN trained by
// standard training, then PGD adversarial training at two Linf budgets, TRADES and IMA, each
// starting from the standard model's weights (the paper's "IMA on a pretrained model"; from
// scratch, PGD-AT with this small network and few steps stays at chance level, loss ln 10), all on
// a training subset, each evaluated under PGD-20 and IFGSM-10 in Linf and L2
// on a test subset, pixels in [0, 1] and every attack (training and evaluation) clamped to that
// range. Prints per-epoch progress, then one table row per method: clean accuracy, accuracy per
// budget and the robustness AUC per attack and norm; writes each report (JSON, CSV, SVG) and
// the table (markdown) to the output folder.
//
// Usage: imaBenchFashionMnist [--train N] [--test N] [--epochs E] [--features F] [--hidden H]
//          [--pgd-steps K] [--threads T] [--methods standard,a,b,...] [--out DIR] [--data DIR]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ima/FreedMemory.h"
#include "ima/classification/ClassificationTraining.h"
#include "ima/classification/ClassifierEvaluation.h"
#include "ima/classification/IdxReader.h"
#include "ima/classification/SmallCNN.h"

namespace {

struct Settings {
  int64_t train = 2000, test = 300;
  int epochs = 8, features = 8, hidden = 64, pgdSteps = 7, threads = 1;
  std::string methods = "standard,pgd-0.1,pgd-0.2,trades-0.1,ima-0.2";
  std::string out = "fashion-results", data = "/usr/share/datasets/fashion-mnist/";
};

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--train") s.train = std::atoll(v.c_str());
    else if (k == "--test") s.test = std::atoll(v.c_str());
    else if (k == "--epochs") s.epochs = std::atoi(v.c_str());
    else if (k == "--features") s.features = std::atoi(v.c_str());
    else if (k == "--hidden") s.hidden = std::atoi(v.c_str());
    else if (k == "--pgd-steps") s.pgdSteps = std::atoi(v.c_str());
    else if (k == "--threads") s.threads = std::atoi(v.c_str());
    else if (k == "--methods") s.methods = v;
    else if (k == "--out") s.out = v;
    else if (k == "--data") s.data = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      std::exit(2);
    }
  }
  return s;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  return parts;
}

// "standard", "pgd-EPS", "trades-EPS", "ima-EPSMAX": all Linf, attacks clamped to [0, 1].
ima::ClassificationTrainingOptions trainingOptions(const std::string& name, const Settings& s) {
  ima::ClassificationTrainingOptions o;
  const size_t dash = name.find('-');
  o.method = ima::trainingMethodNamed(name.substr(0, dash));
  o.epochs = s.epochs;
  o.batchSize = 64;
  o.optimizer = "adam";
  o.learningRate = 1e-3;
  o.seed = 1;
  ima::AdversarialOptions& a = o.adversarial;
  a.norm = ima::Norm::Linf;
  a.pgdSteps = s.pgdSteps;
  a.alpha = 2.5;  // PGD step 2.5 * eps / K (Madry et al.'s choice), for every method
  a.clamp = true;
  const double eps = dash == std::string::npos ? 0 : std::atof(name.c_str() + dash + 1);
  a.eps = eps;
  a.tradesBeta = 6;
  // IMA: margins may grow to eps_max within the run (delta = eps_max / epochs), beta 0.5, 10
  // bisection steps, loss over the samples whose attack crossed the boundary.
  a.epsMax = eps;
  a.delta = eps / s.epochs;
  a.beta = 0.5;
  a.bisectionSteps = 10;
  return o;
}

double elapsed(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  ima::keepFreedMemory();  // as the ima program does
  const Settings s = parse(argc, argv);
  torch::set_num_threads(s.threads);
  const auto start = std::chrono::steady_clock::now();
  const ima::ClassificationSet train = ima::readIdxClassificationSet(
      s.data + "train-images-idx3-ubyte.gz", s.data + "train-labels-idx1-ubyte.gz", s.train);
  const ima::ClassificationSet test =
      ima::readIdxClassificationSet(s.data + "t10k-images-idx3-ubyte.gz", s.data + "t10k-labels-idx1-ubyte.gz", s.test);
  std::printf("Fashion-MNIST: %lld training, %lld test images; SmallCNN features %d hidden %d; %d epochs, "
              "training PGD %d steps; %d thread(s)\n",
              static_cast<long long>(train.size()), static_cast<long long>(test.size()), s.features, s.hidden, s.epochs,
              s.pgdSteps, s.threads);
  std::filesystem::create_directories(s.out);

  const std::map<std::string, std::vector<double>> budgets{{"linf", {0, 0.05, 0.1, 0.2}}, {"l2", {0, 0.5, 1, 2}}};
  std::ostringstream table;
  table << "| method | clean | PGD-20 Linf 0.05 / 0.1 / 0.2 | AUC | IFGSM-10 Linf 0.05 / 0.1 / 0.2 | AUC "
           "| PGD-20 L2 0.5 / 1 / 2 | AUC | IFGSM-10 L2 0.5 / 1 / 2 | AUC | train s |\n"
        << "|---|---|---|---|---|---|---|---|---|---|---|\n";
  const std::vector<std::string> methods = split(s.methods);
  if (methods.empty() || methods.front() != "standard") throw std::invalid_argument("--methods must start with standard");
  std::string standardWeights;
  for (const std::string& name : methods) {
    ima::SmallCNNSpec spec;
    spec.features = s.features;
    spec.hidden = s.hidden;
    ima::SmallCNNNetwork net(spec, /*seed=*/1);
    if (!standardWeights.empty()) {
      std::istringstream in(standardWeights);
      net.loadWeights(in);
    }
    const auto trainStart = std::chrono::steady_clock::now();
    ima::ClassificationTrainer trainer(net, train, trainingOptions(name, s));
    trainer.run([&](const ima::ClassificationEpochReport& r) {
      std::printf("%s epoch %d: loss %.4f, %.1f s", name.c_str(), r.epoch, r.loss, r.seconds);
      if (r.margins)
        std::printf(", margins mean %.4f median %.4f max %.4f, expanded %.2f, to boundary %.2f", r.margins->mean,
                    r.margins->median, r.margins->maximum, r.margins->fractionExpanded, r.margins->fractionToBoundary);
      std::printf("\n");
      std::fflush(stdout);
      return true;
    });
    const double trainSeconds = elapsed(trainStart);
    if (standardWeights.empty()) {
      std::ostringstream out;
      net.saveWeights(out);
      standardWeights = out.str();
    }

    table << "| " << name;
    bool first = true;
    for (const std::string norm : {"linf", "l2"}) {
      ima::ClassifierEvaluationOptions e;
      e.attacks = {"pgd", "ifgsm"};
      e.norm = ima::parseNorm(norm);
      e.budgets = budgets.at(norm);
      e.pgdSteps = 20;
      e.ifgsmSteps = 10;
      e.clamp = true;
      e.seed = 7;
      ima::RobustnessReport report = ima::evaluateClassifierRobustness(net, test, e);
      report.title = "Fashion-MNIST, " + name + ", " + norm;
      report.model = name;
      report.data = "Fashion-MNIST t10k, first " + std::to_string(test.size());
      const std::string stem = s.out + "/" + name + "-" + norm;
      ima::writeReportFiles(report, stem + ".json", stem + ".csv", stem + ".svg");
      char cell[64];
      if (first) {
        std::snprintf(cell, sizeof cell, " | %.3f", report.attacks[0].budgets[0].accuracy());
        table << cell;
        first = false;
      }
      for (const ima::AttackResult& a : report.attacks) {
        table << " |";
        for (size_t b = 1; b < a.budgets.size(); ++b) {
          std::snprintf(cell, sizeof cell, "%s%.3f", b == 1 ? " " : " / ", a.budgets[b].accuracy());
          table << cell;
        }
        std::snprintf(cell, sizeof cell, " | %.3f", report.auc(a));
        table << cell;
      }
    }
    char cell[32];
    std::snprintf(cell, sizeof cell, " | %.0f |\n", trainSeconds);
    table << cell;
    std::printf("%s done after %.0f s in all\n", name.c_str(), elapsed(start));
    std::fflush(stdout);
  }
  std::printf("\n%s", table.str().c_str());
  std::ofstream(s.out + "/table.md") << table.str();
  std::printf("total %.0f s\n", elapsed(start));
}
