// nn-train: train a multilayer perceptron from the shell.
//
//   nn-train                                   # the digits network of the course notes
//   nn-train --data xor --layers 2,4,1 --hidden tanh --optimizer adam --lr 0.05 --epochs 500 --batch 4
//   nn-train --data my.csv --label-column 0 --loss mse
//   nn-train --grid lr=0.01,0.1,1 --grid l2=0,1e-4,1e-3 --heatmap grid.svg
//   nn-train --data iris --optimizer lbfgs --epochs 10   # full batch, 20 L-BFGS iterations per epoch
//
// Every option is one row of the table in options(): its name, value, help text and how it
// changes the Config. The same rows make the CLI11 options that parse the command line and print
// --help, and apply the values of a grid search (--grid NAME=v1,v2 sets --NAME to each value in
// turn). The last line of output holds the headline figures as key=value pairs. Exit codes: 0 success, 2 bad usage (the message
// names the option and the valid choices), 1 any other error (a missing or malformed file, a
// diverging run): the library's message, which names the file and line, or the epoch and the loss.
#include "cli_common.hpp"
#include "distributed_cli.hpp"

#include <ad/nn/data.hpp>
#include <ad/nn/lbfgs.hpp>
#include <ad/nn/metrics.hpp>
#include <ad/nn/mpi.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/plot.hpp>
#include <ad/nn/serialize.hpp>
#include <ad/nn/train.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>

using namespace ad::nn;
using cli::UsageError;

namespace {

struct Config {
  // data
  std::string data = "digits", labels_idx, test_data;
  int label_column = -1;
  double test_fraction = 0.2, val_fraction = 0;
  bool test_fraction_set = false, stratify = false;
  std::string scale = "auto", task = "auto";
  // model
  std::vector<std::size_t> layers;  // empty: features, 50, outputs
  std::string hidden = "sigmoid", output = "auto", init = "pytorch_default";
  double dropout = 0;
  bool batchnorm = false;
  // loss and optimizer
  std::string loss = "auto", optimizer = "sgd", schedule = "constant";
  double l2 = 0, l1 = 0, lr = 0.1, clip_norm = 0, clip_value = 0;
  std::optional<double> momentum, dampening, weight_decay, beta1, beta2, eps, alpha, lr_decay;
  bool nesterov = false, centered = false;
  bool lr_set = false, batch_set = false;  // given (lbfgs has its own default lr, and no batches)
  // lbfgs
  std::optional<std::size_t> max_iter, max_eval, history_size;
  std::optional<std::string> line_search;
  std::optional<double> tolerance_grad, tolerance_change;
  // training
  std::size_t epochs = 100, batch = 100, patience = 0, print_every = 0;
  std::uint64_t seed = 1;
  double min_delta = 0;
  bool restore_best = true, use_float = false, quiet = false, divergence_check = true;
  int threads = -1;
  // output
  std::string save, history, plot, heatmap, grid_csv, title;
  std::vector<std::pair<std::string, std::vector<std::string>>> grid;
};

struct Option {
  std::string name;     // without "--"
  std::string value;    // metavariable; empty for a flag
  std::string section;
  std::string help;
  std::function<void(Config&, const std::string&)> set;
  bool grid = false;    // may be searched with --grid
};

const std::vector<std::string> kOptimizers = {"sgd",  "momentum", "nesterov", "adagrad",
                                              "rmsprop", "adam", "adamw",    "lbfgs"};
const std::vector<std::string> kActivations = {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "swish", "silu",
                                               "softplus", "identity"};
// --hidden: the common ones (for --help), and any other activation of the library but softmax.
std::string hidden_activation(const std::string& v) {
  std::vector<std::string> valid = kActivations;
  for (const std::string& n : ad::nn::activation_names())
    if (n != "softmax" && std::find(valid.begin(), valid.end(), n) == valid.end()) valid.push_back(n);
  return cli::choice("--hidden", v, valid);
}
const std::vector<std::string> kOutputs = {"auto", "softmax", "sigmoid", "identity"};
const std::vector<std::string> kLosses = {"auto", "cross_entropy", "bce", "mse"};
const std::vector<std::string> kInits = {"pytorch_default", "xavier_uniform", "xavier_normal", "he_uniform",
                                         "he_normal", "small_normal"};

std::vector<std::size_t> parse_layers(const std::string& v) {
  std::vector<std::size_t> out;
  for (const auto& p : cli::split(v, ',')) out.push_back(cli::to_count("--layers", p, 1));
  if (out.size() < 2) throw UsageError{"--layers: give at least an input and an output size, e.g. 64,50,10"};
  return out;
}

const std::vector<Option>& options() {
  using C = Config;
  using S = const std::string&;
  static const std::vector<Option> table = {
      // data
      {"data", "NAME|FILE", "Data",
       "a built-in set (" + cli::join(builtin_names(), ", ") +
           ") or a CSV file (.csv or .csv.gz) [digits]",
       [](C& c, S v) { c.data = v; }},
      {"label-column", "N", "Data", "CSV: 0-based column of the label; -1 = the last [-1]",
       [](C& c, S v) {
         char* end = nullptr;
         const long n = std::strtol(v.c_str(), &end, 10);
         if (v.empty() || *end || n < -1) throw UsageError{fmt::format("--label-column: '{}' is not a column index (0, 1, ... or -1 for the last)", v)};
         c.label_column = static_cast<int>(n);
       }},
      {"labels", "FILE", "Data", "IDX labels file: --data is then the IDX images file (MNIST format, .gz fine)",
       [](C& c, S v) { c.labels_idx = v; }},
      {"test-data", "NAME|FILE", "Data", "a separate test set (same kind as --data); default: split off --test-fraction",
       [](C& c, S v) { c.test_data = v; }},
      {"test-fraction", "F", "Data",
       "share of the rows held out for the test [0.2]; 0 = test on the training data (the logic gates)",
       [](C& c, S v) {
         c.test_fraction = cli::to_double("--test-fraction", v);
         if (c.test_fraction < 0 || c.test_fraction >= 1) throw UsageError{"--test-fraction: must be in [0, 1)"};
         c.test_fraction_set = true;
       }},
      {"val-fraction", "F", "Data",
       "share of the training rows held out for validation [0; 0.2 with --grid]",
       [](C& c, S v) {
         c.val_fraction = cli::to_double("--val-fraction", v);
         if (c.val_fraction < 0 || c.val_fraction >= 1) throw UsageError{"--val-fraction: must be in [0, 1)"};
       }},
      {"stratify", "", "Data", "keep every class's share in each split", [](C& c, S) { c.stratify = true; }},
      {"scale", "KIND", "Data",
       "input scaling fitted on the training rows: none, standard, minmax, max (divide by the largest value), "
       "auto = max for digits and fashion-mnist, none for the gates, standard otherwise [auto]",
       [](C& c, S v) { c.scale = cli::choice("--scale", v, cli::Scaling::kinds()); }},
      {"task", "KIND", "Data", "classification or regression; auto = regression when the loss is mse [auto]",
       [](C& c, S v) { c.task = cli::choice("--task", v, {"auto", "classification", "regression"}); }},
      // model
      {"layers", "N,N,...", "Model",
       "layer sizes from inputs to outputs, e.g. 64,50,10 [features,50,outputs]",
       [](C& c, S v) { c.layers = parse_layers(v); }},
      {"hidden", "ACT", "Model",
       "hidden activation: " + cli::join(kActivations, ", ") +
           ", or any other of nn::Activation (gelu, erf, sin, ...) [sigmoid]",
       [](C& c, S v) { c.hidden = hidden_activation(v); }, true},
      {"output", "ACT", "Model",
       "output activation: auto (softmax for cross_entropy, sigmoid for bce, none for mse), softmax, sigmoid, "
       "identity [auto]",
       [](C& c, S v) { c.output = cli::choice("--output", v, kOutputs); }},
      {"init", "NAME", "Model", "weight initialization: " + cli::join(kInits, ", ") + " [pytorch_default]",
       [](C& c, S v) { c.init = cli::choice("--init", v, kInits); }, true},
      {"dropout", "P", "Model", "dropout after every hidden activation, probability P [0]",
       [](C& c, S v) {
         c.dropout = cli::to_double("--dropout", v);
         if (c.dropout < 0 || c.dropout >= 1) throw UsageError{"--dropout: must be in [0, 1)"};
       }, true},
      {"batchnorm", "", "Model", "batch normalization after every hidden linear layer",
       [](C& c, S) { c.batchnorm = true; }},
      // loss
      {"loss", "NAME", "Loss",
       "cross_entropy, bce (one sigmoid output), mse; auto = bce if the last layer has 1 unit, else "
       "cross_entropy, mse for --task regression [auto]",
       [](C& c, S v) { c.loss = cli::choice("--loss", v, kLosses); }},
      {"l2", "LAMBDA", "Loss", "L2 penalty (LAMBDA/2) sum w^2 over the weights [0]",
       [](C& c, S v) { c.l2 = cli::to_double("--l2", v); }, true},
      {"l1", "LAMBDA", "Loss", "L1 penalty LAMBDA sum |w| over the weights [0]",
       [](C& c, S v) { c.l1 = cli::to_double("--l1", v); }, true},
      // optimizer
      {"optimizer", "NAME", "Optimizer",
       cli::join(kOptimizers, ", ") + " [sgd]; lbfgs trains full batch, one L-BFGS step per epoch (see below)",
       [](C& c, S v) { c.optimizer = cli::choice("--optimizer", v, kOptimizers); }, true},
      {"lr", "RATE", "Optimizer", "learning rate [0.1; lbfgs 1, its first trial step]",
       [](C& c, S v) {
         c.lr = cli::to_double("--lr", v);
         c.lr_set = true;
       }, true},
      {"momentum", "MU", "Optimizer", "sgd, rmsprop: momentum [0; 0.9 for momentum and nesterov]",
       [](C& c, S v) { c.momentum = cli::to_double("--momentum", v); }, true},
      {"nesterov", "", "Optimizer", "sgd: Nesterov momentum", [](C& c, S) { c.nesterov = true; }},
      {"dampening", "D", "Optimizer", "sgd: dampening of the momentum [0]",
       [](C& c, S v) { c.dampening = cli::to_double("--dampening", v); }},
      {"weight-decay", "WD", "Optimizer", "weight decay of the optimizer (decoupled for adamw) [0; adamw 0.01]",
       [](C& c, S v) { c.weight_decay = cli::to_double("--weight-decay", v); }, true},
      {"beta1", "B1", "Optimizer", "adam, adamw [0.9]", [](C& c, S v) { c.beta1 = cli::to_double("--beta1", v); }, true},
      {"beta2", "B2", "Optimizer", "adam, adamw [0.999]", [](C& c, S v) { c.beta2 = cli::to_double("--beta2", v); }, true},
      {"eps", "EPS", "Optimizer", "adam, adamw, rmsprop, adagrad: the epsilon of the denominator",
       [](C& c, S v) { c.eps = cli::to_double("--eps", v); }},
      {"alpha", "A", "Optimizer", "rmsprop: smoothing constant [0.99]",
       [](C& c, S v) { c.alpha = cli::to_double("--alpha", v); }},
      {"centered", "", "Optimizer", "rmsprop: centered variant", [](C& c, S) { c.centered = true; }},
      {"lr-decay", "D", "Optimizer", "adagrad: learning-rate decay [0]",
       [](C& c, S v) { c.lr_decay = cli::to_double("--lr-decay", v); }},
      {"max-iter", "N", "Optimizer", "lbfgs: L-BFGS iterations per epoch [20]",
       [](C& c, S v) { c.max_iter = cli::to_count("--max-iter", v, 1); }, true},
      {"max-eval", "N", "Optimizer", "lbfgs: evaluations of the loss and its gradient per epoch [max-iter * 5 / 4]",
       [](C& c, S v) { c.max_eval = cli::to_count("--max-eval", v, 1); }},
      {"history-size", "N", "Optimizer", "lbfgs: curvature pairs kept [100]",
       [](C& c, S v) { c.history_size = cli::to_count("--history-size", v, 1); }, true},
      {"line-search", "KIND", "Optimizer", "lbfgs: strong_wolfe, or none (fixed steps of --lr) [strong_wolfe]",
       [](C& c, S v) { c.line_search = cli::choice("--line-search", v, {"strong_wolfe", "none"}); }},
      {"tolerance-grad", "G", "Optimizer", "lbfgs: an epoch's iterations stop once every |gradient entry| <= G [1e-7]",
       [](C& c, S v) {
         c.tolerance_grad = cli::to_double("--tolerance-grad", v);
         if (*c.tolerance_grad < 0) throw UsageError{"--tolerance-grad: must be >= 0"};
       }},
      {"tolerance-change", "C", "Optimizer",
       "lbfgs: an epoch's iterations stop once the loss or the step changes by less than C [1e-9]",
       [](C& c, S v) {
         c.tolerance_change = cli::to_double("--tolerance-change", v);
         if (*c.tolerance_change < 0) throw UsageError{"--tolerance-change: must be >= 0"};
       }},
      {"schedule", "S", "Optimizer",
       "learning-rate schedule: constant, step:SIZE:GAMMA, exponential:GAMMA, cosine[:ETA_MIN] [constant]",
       [](C& c, S v) { c.schedule = v; }, true},
      {"clip-norm", "N", "Optimizer", "clip the joint gradient norm to N every step [off]",
       [](C& c, S v) { c.clip_norm = cli::to_double("--clip-norm", v); }},
      {"clip-value", "V", "Optimizer", "clip every gradient entry to [-V, V] [off]",
       [](C& c, S v) { c.clip_value = cli::to_double("--clip-value", v); }},
      // training
      {"epochs", "N", "Training", "epochs [100]", [](C& c, S v) { c.epochs = cli::to_count("--epochs", v, 1); }, true},
      {"batch", "N", "Training", "minibatch size [100]; not with lbfgs (full batch)",
       [](C& c, S v) {
         c.batch = cli::to_count("--batch", v, 1);
         c.batch_set = true;
       }, true},
      {"seed", "S", "Training", "one seed for the split, the initial weights, dropout and the shuffling [1]",
       [](C& c, S v) { c.seed = cli::to_count("--seed", v); }, true},
      {"patience", "N", "Training",
       "early stopping: stop after N epochs without a lower validation loss (training loss without "
       "validation) and keep the best weights [off]",
       [](C& c, S v) { c.patience = cli::to_count("--patience", v, 1); }},
      {"min-delta", "D", "Training", "early stopping: an improvement must exceed D [0]",
       [](C& c, S v) { c.min_delta = cli::to_double("--min-delta", v); }},
      {"keep-last", "", "Training", "keep the last weights instead of the best (with validation or --patience)",
       [](C& c, S) { c.restore_best = false; }},
      {"no-divergence-check", "", "Training",
       "train on when the loss blows up to 10 times its start or stalls at chance for 10 epochs (by default "
       "that stops with exit code 1; a NaN or infinite loss always stops)",
       [](C& c, S) { c.divergence_check = false; }},
      {"float", "", "Training", "compute in float32", [](C& c, S) { c.use_float = true; }},
      {"double", "", "Training", "compute in float64 (the default)", [](C& c, S) { c.use_float = false; }},
      {"threads", "N", "Training",
       "BLAS threads for the matrix products; 0 = all cores [1, or $OPENBLAS_NUM_THREADS if set]",
       [](C& c, S v) { c.threads = static_cast<int>(cli::to_count("--threads", v)); }},
      {"print-every", "N", "Training", "when not on a terminal: a progress line every N epochs [epochs/10]",
       [](C& c, S v) { c.print_every = cli::to_count("--print-every", v, 1); }},
      {"quiet", "", "Training", "no progress output", [](C& c, S) { c.quiet = true; }},
      // output
      {"save", "FILE", "Output", "save the trained model (and FILE.meta with scaling and class names)",
       [](C& c, S v) { c.save = v; }},
      {"history", "FILE", "Output", "per-epoch loss and accuracy as CSV", [](C& c, S v) { c.history = v; }},
      {"plot", "FILE", "Output", "the training history as an SVG line chart", [](C& c, S v) { c.plot = v; }},
      {"title", "TEXT", "Output", "title of the pictures", [](C& c, S v) { c.title = v; }},
      {"grid", "NAME=V1,V2,...", "Grid search",
       "train once per value (give --grid twice for a two-way grid); NAME is an option marked * below",
       [](C&, S) {}},
      {"heatmap", "FILE", "Grid search", "the grid's validation accuracy (R^2 for regression) as an SVG heatmap",
       [](C& c, S v) { c.heatmap = v; }},
      {"grid-csv", "FILE", "Grid search", "the grid's validation scores as CSV (one row per value of the first --grid)",
       [](C& c, S v) { c.grid_csv = v; }},
  };
  return table;
}

constexpr const char* kHelpHead =
    "usage: nn-train [options]\n\n"
    "Trains a multilayer perceptron (ad::nn) and reports its test accuracy. The defaults are the\n"
    "digits network of the course notes: 64-50-10, sigmoid, softmax, cross-entropy, SGD lr 0.1,\n"
    "batch 100, 100 epochs, 80/20 split, pixels / 16, seed 1.\n";
constexpr const char* kHelpTail =
    "\nOptions marked * can be searched: --grid lr=0.01,0.1,1 --grid l2=0,1e-4,1e-3 --heatmap grid.svg\n"
    "trains 9 networks, picks the best validation score and reports its test accuracy.\n"
    "\nThe last line of output is key=value pairs: test_accuracy (or test_mse and test_r2 for\n"
    "regression), train_loss, epochs, seconds, ... Exit status: 0 success, 2 bad usage, 1 other errors.\n"
    "\nWith --optimizer lbfgs (L-BFGS with a strong-Wolfe line search, as PyTorch's LBFGS) training is\n"
    "full batch: an epoch is one L-BFGS step on the whole training set, up to --max-iter iterations,\n"
    "each evaluating the loss and its gradient once or more (PyTorch's optimizer.step(closure) once\n"
    "per epoch). The epoch's loss is the loss at the weights it ends with; the last line adds\n"
    "lbfgs_iterations and lbfgs_evaluations. --batch, --clip-norm, --clip-value, --weight-decay (use\n"
    "--l2) and, with the line search, --dropout do not go with it.\n"
    "\nExamples:\n"
    "  nn-train --save digits.model --history history.csv --plot history.svg\n"
    "  nn-train --data xor --layers 2,4,1 --hidden tanh --optimizer adam --lr 0.05 --epochs 500 --batch 4\n"
    "  nn-train --data breast-cancer --layers 30,16,1 --optimizer adam --lr 0.01 --patience 10 --val-fraction 0.2\n"
    "  nn-train --data table.csv --label-column 0 --task regression --hidden tanh --optimizer adam --lr 0.01\n"
    "  nn-train --data breast-cancer --layers 30,16,1 --optimizer lbfgs --epochs 10\n";

const Option* find_option(const std::string& name) {
  for (const auto& o : options())
    if (o.name == name) return &o;
  return nullptr;
}

[[noreturn]] void unknown_option(const std::string& arg) {
  std::string best;
  std::size_t dist = 99;
  std::vector<std::string> names;
  for (const auto& o : options()) {
    names.push_back("--" + o.name);
    const std::size_t d = cli::edit_distance(arg, "--" + o.name);
    if (d < dist) dist = d, best = "--" + o.name;
  }
  std::string msg = fmt::format("unknown option '{}'", arg);
  if (dist <= 3) msg += fmt::format(" (did you mean {}?)", best);
  msg += "; valid options: " + cli::join(names, " ") + " --help";
  throw UsageError{msg};
}

/// --grid NAME=V1,V2,...: every value checked now, the cells trained in run().
void add_grid(Config& c, const std::string& value) {
  const auto e = value.find('=');
  if (e == std::string::npos || e == 0 || e + 1 == value.size())
    throw UsageError{fmt::format("--grid: '{}' must be NAME=V1,V2,... e.g. --grid lr=0.01,0.1,1", value)};
  const std::string name = value.substr(0, e);
  const Option* g = find_option(name);
  std::vector<std::string> searchable;
  for (const auto& x : options())
    if (x.grid) searchable.push_back(x.name);
  if (!g || !g->grid)
    throw UsageError{fmt::format("--grid: '{}' cannot be searched; choose one of: {}", name, cli::join(searchable))};
  auto values = cli::split(value.substr(e + 1), ',');
  Config probe;
  for (const auto& v : values) g->set(probe, v);  // check every value now
  if (c.grid.size() == 2) throw UsageError{"--grid: at most two options can be searched together"};
  for (const auto& [n, vs] : c.grid)
    if (n == name) throw UsageError{fmt::format("--grid: '{}' is given twice", name)};
  c.grid.emplace_back(name, values);
}

/// The command line, by CLI11: one option per row of options(), its callback applying the row
/// to the Config as the option is read (so the last of repeated options wins, and the first bad
/// value is the one reported); --help printed from the same rows.
Config parse(int argc, char** argv, bool& help) {
  Config c;
  CLI::App app{"", "nn-train"};
  for (const Option& o : options()) {
    const std::string name = "--" + o.name;
    CLI::Option* opt;
    if (o.value.empty())
      opt = app.add_flag_function(name, [&c, &o](std::int64_t) { o.set(c, ""); }, o.help);
    else if (o.name == "grid")
      opt = app.add_option_function<std::string>(name, [&c](const std::string& v) { add_grid(c, v); }, o.help);
    else
      opt = app.add_option_function<std::string>(name, [&c, &o](const std::string& v) { o.set(c, v); }, o.help);
    opt->type_name(o.value)->group(o.section)->trigger_on_parse();
  }
  cli::add_help(app, options().back().section);
  auto help_format = std::make_shared<cli::HelpFormatter>();
  help_format->head = kHelpHead;
  help_format->tail = kHelpTail;
  help_format->mark = [](const CLI::Option& opt) {
    const Option* o = find_option(opt.get_name().substr(2));
    return std::string(o && o->grid ? " *" : "");
  };
  app.formatter(help_format);

  std::vector<std::string> rest;
  const auto needs_value = [](const CLI::Option& o, const std::string& token) {
    return fmt::format("{} needs a value: {} {}", token, token, o.get_type_name());
  };
  if (!cli::parse(app, argc, argv, needs_value, rest)) {
    help = true;
    return c;
  }
  if (!rest.empty()) {
    const std::string& arg = rest.front();
    if (arg.rfind("--", 0) != 0) throw UsageError{fmt::format("unexpected argument '{}' (options start with --)", arg)};
    unknown_option(arg.substr(0, arg.find('=')));
  }
  return c;
}

LrSchedule parse_schedule(const std::string& s, std::size_t epochs) {
  const auto p = cli::split(s, ':');
  const std::string forms = "constant, step:SIZE:GAMMA, exponential:GAMMA, cosine or cosine:ETA_MIN";
  if (p[0] == "constant" && p.size() == 1) return LrSchedule::constant();
  if (p[0] == "step" && p.size() == 3)
    return LrSchedule::step(cli::to_count("--schedule step size", p[1], 1), cli::to_double("--schedule gamma", p[2]));
  if (p[0] == "exponential" && p.size() == 2) return LrSchedule::exponential(cli::to_double("--schedule gamma", p[1]));
  if (p[0] == "cosine" && p.size() <= 2)
    return LrSchedule::cosine(epochs, p.size() == 2 ? cli::to_double("--schedule eta_min", p[1]) : 0.0);
  throw UsageError{fmt::format("--schedule: '{}' is not one of: {}", s, forms)};
}

/// Checks that optimizer-specific options fit the chosen optimizer.
void check_optimizer_options(const Config& c) {
  auto only = [&](bool given, const char* opt, std::vector<std::string> ok) {
    if (given && std::find(ok.begin(), ok.end(), c.optimizer) == ok.end())
      throw UsageError{fmt::format("{} applies to --optimizer {} only (not {})", opt, cli::join(ok, ", "), c.optimizer)};
  };
  only(c.momentum.has_value(), "--momentum", {"sgd", "momentum", "nesterov", "rmsprop"});
  only(c.nesterov, "--nesterov", {"sgd", "momentum", "nesterov"});
  only(c.dampening.has_value(), "--dampening", {"sgd", "momentum", "nesterov"});
  only(c.beta1.has_value() || c.beta2.has_value(), "--beta1/--beta2", {"adam", "adamw"});
  only(c.eps.has_value(), "--eps", {"adam", "adamw", "rmsprop", "adagrad"});
  only(c.alpha.has_value() || c.centered, "--alpha/--centered", {"rmsprop"});
  only(c.lr_decay.has_value(), "--lr-decay", {"adagrad"});
  only(c.max_iter.has_value(), "--max-iter", {"lbfgs"});
  only(c.max_eval.has_value(), "--max-eval", {"lbfgs"});
  only(c.history_size.has_value(), "--history-size", {"lbfgs"});
  only(c.line_search.has_value(), "--line-search", {"lbfgs"});
  only(c.tolerance_grad.has_value() || c.tolerance_change.has_value(), "--tolerance-grad/--tolerance-change",
       {"lbfgs"});
  if (c.optimizer == "lbfgs") {
    if (c.batch_set)
      throw UsageError{"--batch does not go with --optimizer lbfgs: it trains on the whole training set at every "
                       "step (full batch); leave --batch out"};
    if (c.clip_norm > 0 || c.clip_value > 0)
      throw UsageError{fmt::format("{} does not go with --optimizer lbfgs: clipping would change the gradient that "
                                   "its line search and curvature pairs rely on",
                                   c.clip_norm > 0 ? "--clip-norm" : "--clip-value")};
    if (c.weight_decay)
      throw UsageError{"--weight-decay does not go with --optimizer lbfgs; use --l2, a penalty that is part of the "
                       "loss it minimizes"};
    if (c.dropout > 0 && c.line_search.value_or("strong_wolfe") == "strong_wolfe")
      throw UsageError{"--dropout makes the loss random from one evaluation to the next, which the line search of "
                       "--optimizer lbfgs cannot work with; use --line-search none, or no dropout"};
  }
}

/// The learning rate a run uses: lbfgs's default is 1 (PyTorch's), the others' 0.1.
double effective_lr(const Config& c) { return c.optimizer == "lbfgs" && !c.lr_set ? 1.0 : c.lr; }

/// "batch 100", or for lbfgs "full batch, 20 iterations per epoch".
std::string batch_text(const Config& c) {
  if (c.optimizer != "lbfgs") return fmt::format("batch {}", c.batch);
  return fmt::format("full batch, {} iterations per epoch{}", c.max_iter.value_or(20),
                     c.line_search.value_or("strong_wolfe") == "none" ? " (fixed steps)" : "");
}

template <class T>
std::unique_ptr<Optimizer<T>> make_opt(const Config& c, std::vector<Parameter<T>*> params) {
  const std::string& n = c.optimizer;
  const double wd = c.weight_decay.value_or(n == "adamw" ? 1e-2 : 0.0);
  if (n == "lbfgs") {
    LBFGSOptions o{.lr = effective_lr(c),
                   .max_iter = static_cast<int>(std::min<std::size_t>(c.max_iter.value_or(20), 1u << 30)),
                   .tolerance_grad = c.tolerance_grad.value_or(1e-7),
                   .tolerance_change = c.tolerance_change.value_or(1e-9),
                   .history_size = static_cast<int>(std::min<std::size_t>(c.history_size.value_or(100), 1u << 30)),
                   .line_search = c.line_search.value_or("strong_wolfe") == "none" ? LineSearch::none
                                                                                    : LineSearch::strong_wolfe};
    if (c.max_eval) o.max_eval = static_cast<int>(std::min<std::size_t>(*c.max_eval, 1u << 30));
    return std::make_unique<LBFGS<T>>(std::move(params), o);
  }
  if (n == "sgd" || n == "momentum" || n == "nesterov") {
    SGDOptions o{.lr = c.lr, .momentum = c.momentum.value_or(n == "sgd" ? 0.0 : 0.9),
                 .dampening = c.dampening.value_or(0), .weight_decay = wd, .nesterov = c.nesterov || n == "nesterov"};
    if (o.nesterov && o.momentum <= 0) throw UsageError{"--nesterov needs --momentum > 0"};
    return std::make_unique<SGD<T>>(std::move(params), o);
  }
  if (n == "adagrad")
    return std::make_unique<Adagrad<T>>(std::move(params), AdagradOptions{.lr = c.lr, .lr_decay = c.lr_decay.value_or(0),
                                                                          .weight_decay = wd, .eps = c.eps.value_or(1e-10)});
  if (n == "rmsprop")
    return std::make_unique<RMSprop<T>>(std::move(params),
                                        RMSpropOptions{.lr = c.lr, .alpha = c.alpha.value_or(0.99), .eps = c.eps.value_or(1e-8),
                                                       .weight_decay = wd, .momentum = c.momentum.value_or(0),
                                                       .centered = c.centered});
  const AdamOptions o{.lr = c.lr, .beta1 = c.beta1.value_or(0.9), .beta2 = c.beta2.value_or(0.999),
                      .eps = c.eps.value_or(1e-8), .weight_decay = wd};
  return std::make_unique<Adam<T>>(std::move(params), o, n == "adamw");
}

/// The data after splitting and scaling, plus what was decided about it.
/// D: the element type the data is held in, the model's (a float32 model trains from float data).
template <class D>
struct Prepared {
  BasicDataset<D> train, val, test;
  bool has_val = false, test_is_train = false;
  cli::Meta meta;
  std::string data_label;
};

Loss resolve_loss(const Config& c) {
  if (c.loss != "auto") return loss_from_name(c.loss);
  if (c.task == "regression") return Loss::mse;
  if (!c.layers.empty() && c.layers.back() == 1) return Loss::bce;
  return Loss::cross_entropy;
}

template <class D>
Prepared<D> prepare(Config& c) {
  Prepared<D> p;
  BasicDataset<D> all = cli::load_data<D>(c.data, c.labels_idx, c.label_column);
  const std::vector<std::string> class_names = all.class_names;
  const Loss loss = resolve_loss(c);
  const bool regression = loss == Loss::mse;
  if (c.task == "classification" && regression)
    throw UsageError{"--task classification does not go with --loss mse; use cross_entropy or bce"};
  if (all.y.size() == 0) throw UsageError{fmt::format("--data {}: the data has no label column", c.data)};
  const bool gates = c.data == "xor" || c.data == "and" || c.data == "or" || c.data == "nand" || c.data == "nor" ||
                     c.data == "xnor";
  std::string test_data = c.test_data;
  if (test_data.empty() && c.data == "fashion-mnist" && !c.test_fraction_set) test_data = "fashion-mnist-test";
  double tf = c.test_fraction;
  if (gates && !c.test_fraction_set) tf = 0;  // four rows: the truth table is the whole world
  if (!test_data.empty()) {
    p.train = std::move(all);
    p.test = cli::load_data<D>(test_data, "", c.label_column);
    if (p.test.features() != p.train.features())
      throw ad::ShapeError(fmt::format("--test-data {}: {} features, but the training data has {}", test_data,
                                       p.test.features(), p.train.features()));
    tf = 0;
  } else if (tf > 0) {
    auto s = train_test_split(all, tf, c.seed, c.stratify && !regression);
    p.train = std::move(s.train);
    p.test = std::move(s.test);
  } else {
    p.train = all;
    p.test = std::move(all);
    p.test_is_train = true;
  }
  double vf = c.val_fraction;
  if (vf == 0 && !c.grid.empty()) vf = 0.2;
  if (vf > 0) {
    auto s = train_test_split(p.train, vf, c.seed + 1, c.stratify && !regression);
    p.train = std::move(s.train);
    p.val = std::move(s.test);
    p.has_val = true;
  }
  // scaling, fitted on the training rows only
  std::string scale = c.scale;
  if (scale == "auto")
    scale = (c.data == "digits" || c.data == "fashion-mnist") ? "max" : gates ? "none" : "standard";
  p.meta.scaling.kind = scale;
  p.meta.scaling.fit(p.train.x);
  p.meta.scaling.apply(p.train.x);
  if (p.has_val) p.meta.scaling.apply(p.val.x);
  p.meta.scaling.apply(p.test.x);  // its own copy of the rows, also when it repeats the training set

  const std::size_t features = p.train.features();
  std::size_t outputs = regression ? (p.train.y.dimension() == 2 ? p.train.y.shape()[1] : 1)
                        : loss == Loss::cross_entropy ? std::max(class_names.size(), p.train.classes())
                                                      : 1;
  if (!regression && loss == Loss::cross_entropy)
    outputs = std::max({outputs, p.test.classes(), p.has_val ? p.val.classes() : 0});
  if (!regression) (void)p.train.labels();  // integer labels, or a clear error naming the row
  if (c.layers.empty()) c.layers = {features, 50, outputs};
  if (c.layers.front() != features)
    throw UsageError{fmt::format("--layers: the first size must be the number of features, {} (got {})", features,
                                 c.layers.front())};
  if (c.layers.back() != outputs)
    throw UsageError{fmt::format("--layers: the last size must be {} for {} ({}), got {}", outputs,
                                 loss_name(loss),
                                 regression ? "one per target" : loss == Loss::bce ? "one sigmoid unit" : "one per class",
                                 c.layers.back())};
  if (loss == Loss::bce)
    for (double v : p.train.y)
      if (v != 0 && v != 1) throw ad::ValueError(fmt::format("bce: labels must be 0 or 1, found {}", v));

  cli::Meta& m = p.meta;
  m.task = regression ? "regression" : "classification";
  m.loss = loss_name(loss);
  m.dtype = c.use_float ? "float32" : "float64";
  m.features = features;
  m.outputs = outputs;
  m.class_names = class_names;
  if (!regression && m.class_names.empty())
    for (std::size_t k = 0; k < std::max<std::size_t>(outputs, 2); ++k) m.class_names.push_back(std::to_string(k));
  m.data = c.data;
  m.label_column = c.label_column;
  m.test_fraction = p.test_is_train || !test_data.empty() ? 0 : tf;
  m.seed = c.seed;
  m.stratify = c.stratify && !regression;
  p.data_label = fmt::format("{}: {} train{}, {} {}, {} features, {}", c.data, p.train.size(),
                             p.has_val ? fmt::format(", {} validation", p.val.size()) : "", p.test.size(),
                             p.test_is_train ? "test (= the training rows)" : "test",
                             features, regression ? "regression" : fmt::format("{} classes", m.class_names.size()));
  return p;
}

template <class T>
Sequential<T> build(const Config& c, const std::string& output) {
  const Init init = init_from_name(c.init);
  if (!c.batchnorm && c.dropout == 0) return mlp<T>(c.layers, c.hidden, output, c.seed, init);
  Rng rng(c.seed);
  Sequential<T> net;
  for (std::size_t i = 0; i + 1 < c.layers.size(); ++i) {
    net.template emplace<Linear<T>>(c.layers[i], c.layers[i + 1], rng, init);
    if (i + 2 == c.layers.size()) break;
    if (c.batchnorm) net.template emplace<BatchNorm1d<T>>(c.layers[i + 1]);
    net.template emplace<Activation<T>>(c.hidden);
    if (c.dropout > 0) net.template emplace<Dropout<T>>(c.dropout, c.seed + 1000 + i);
  }
  if (output != "identity") net.template emplace<Activation<T>>(output);
  return net;
}

template <class T>
struct Run {
  Sequential<T> net;
  History history;
  Evaluation val;
  double seconds = 0;
  std::optional<LBFGSState> lbfgs;  // with --optimizer lbfgs: its counts and the last stop
  std::string lbfgs_stop;
};

template <class T>
Run<T> train_once(const Config& c, const Prepared<T>& p, bool verbose, Communicator& comm) {
  const Loss loss = resolve_loss(c);
  std::string output = c.output;
  if (output == "auto") output = loss == Loss::cross_entropy ? "softmax" : loss == Loss::bce ? "sigmoid" : "identity";
  if (loss == Loss::bce && output == "softmax") throw UsageError{"--output softmax does not go with --loss bce"};
  check_optimizer_options(c);
  Run<T> r;
  const auto t0 = std::chrono::steady_clock::now();
  r.net = build<T>(c, output);
  auto opt = make_opt<T>(c, r.net.parameters());
  FitOptions o;
  o.epochs = c.epochs;
  o.batch_size = c.batch;
  o.seed = c.seed;
  o.loss = loss;
  o.l2 = c.l2;
  o.l1 = c.l1;
  if (p.has_val) o.x_val = &p.val.x, o.y_val = &p.val.y;
  o.patience = c.patience;
  o.min_delta = c.min_delta;
  o.restore_best = c.restore_best;
  o.schedule = parse_schedule(c.schedule, c.epochs);
  o.clip_norm = c.clip_norm;
  o.clip_value = c.clip_value;
  o.verbose = verbose && !c.quiet ? 1 : 0;
  o.print_every = c.print_every ? c.print_every : std::max<std::size_t>(1, c.epochs / 10);
  o.detect_divergence = c.divergence_check;
  o.comm = &comm;  // under mpirun: data-parallel (docs/distributed.md)
  try {
    r.history = fit(r.net, *opt, p.train.x, p.train.y, o);
  } catch (const DivergenceError& e) {
    // The library's advice, in the command's own words.
    if (c.optimizer == "lbfgs")
      throw DivergenceError(fmt::format("{}; lower --lr (it is {:g}, the first trial step of every iteration){} or "
                                        "scale the inputs (--scale){}",
                                        e.reason, effective_lr(c),
                                        c.line_search.value_or("strong_wolfe") == "none"
                                            ? ", use the line search (--line-search strong_wolfe)"
                                            : "",
                                        e.finite_rule ? "; --no-divergence-check trains on regardless" : ""),
                            e.reason, e.epoch, e.loss, e.finite_rule);
    throw DivergenceError(fmt::format("{}; lower --lr (it is {:g}), scale the inputs (--scale) or clip gradients "
                                      "(--clip-norm){}",
                                      e.reason, c.lr, e.finite_rule ? "; --no-divergence-check trains on regardless" : ""),
                          e.reason, e.epoch, e.loss, e.finite_rule);
  }
  if (const auto* lb = dynamic_cast<const LBFGS<T>*>(opt.get())) {
    r.lbfgs = lb->state();
    r.lbfgs_stop = lb->stop_message();
  }
  if (p.has_val) r.val = evaluate(r.net, p.val.x, p.val.y, loss);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

/// Under mpirun: every rank must train the same network on the same data with the same settings;
/// the first difference is named ("rank 1 has --layers 64,40,10, rank 0 has 64,50,10").
template <class T>
void check_ranks(const Config& c, const Prepared<T>& p, Communicator& comm) {
  auto data = [](const BasicDataset<T>& d) {
    return fmt::format("{} rows x {} features (hash {:016x}, labels {:016x})", d.size(), d.features(),
                       hash_bytes(d.x.data(), d.x.size() * sizeof(T)), hash_bytes(d.y.data(), d.y.size() * sizeof(T)));
  };
  std::vector<std::string> sizes, grid;
  for (auto s : c.layers) sizes.push_back(std::to_string(s));
  for (const auto& [n, vs] : c.grid) grid.push_back(n + "=" + cli::join(vs, ","));
  auto opt = [](const auto& v) { return v ? fmt::format("{}", *v) : std::string("default"); };
  check_same(comm, "",
             {{"--layers", cli::join(sizes, ",")},
              {"--hidden", c.hidden},
              {"--output", c.output},
              {"--init", c.init},
              {"--dropout", fmt::format("{}", c.dropout)},
              {"--batchnorm", c.batchnorm ? "on" : "off"},
              {"--loss", c.loss},
              {"--optimizer", c.optimizer},
              {"--lr", fmt::format("{}", effective_lr(c))},
              {"--momentum", opt(c.momentum)},
              {"--weight-decay", opt(c.weight_decay)},
              {"--beta1", opt(c.beta1)},
              {"--beta2", opt(c.beta2)},
              {"--schedule", c.schedule},
              {"--l2", fmt::format("{}", c.l2)},
              {"--l1", fmt::format("{}", c.l1)},
              {"--clip-norm", fmt::format("{}", c.clip_norm)},
              {"--clip-value", fmt::format("{}", c.clip_value)},
              {"--batch", std::to_string(c.batch)},
              {"--epochs", std::to_string(c.epochs)},
              {"--seed", std::to_string(c.seed)},
              {"--patience", std::to_string(c.patience)},
              {"--float/--double", c.use_float ? "float32" : "float64"},
              {"--scale", p.meta.scaling.kind},
              {"--grid", cli::join(grid, " ")},
              {"the training data", data(p.train)},
              {"the validation data", p.has_val ? data(p.val) : "none"},
              {"the test data", data(p.test)}});
}

std::string default_title(const Config& c) {
  std::vector<std::string> sizes;
  for (auto s : c.layers) sizes.push_back(std::to_string(s));
  return fmt::format("{}: {} {}, {} lr {:g}, {}", c.data, cli::join(sizes, "-"), c.hidden, c.optimizer,
                     effective_lr(c), batch_text(c));
}

template <class T>
int run(Config& c, Communicator& comm) {
  const auto t0 = std::chrono::steady_clock::now();
  Prepared<T> p = cli::on_every_rank(comm, [&] { return prepare<T>(c); });
  if (comm.size() > 1) check_ranks(c, p, comm);
  const Loss loss = resolve_loss(c);
  const bool regression = loss == Loss::mse;
  fmt::print("{}\n", p.data_label);
  std::vector<std::string> sizes;
  for (auto s : c.layers) sizes.push_back(std::to_string(s));
  fmt::print("model: {} {}{}{}, {}, {} lr {:g}{}, {}, {} epochs, {}, scaling {}\n", cli::join(sizes, "-"),
             c.hidden, c.batchnorm ? " batchnorm" : "", c.dropout > 0 ? fmt::format(" dropout {:g}", c.dropout) : "",
             loss_name(loss), c.optimizer, effective_lr(c), c.l2 > 0 ? fmt::format(", l2 {:g}", c.l2) : "",
             batch_text(c), c.epochs, c.use_float ? "float32" : "float64", p.meta.scaling.kind);
  std::fflush(stdout);

  std::optional<Run<T>> best;
  std::string grid_keys;
  Config best_config = c;
  if (c.grid.empty()) {
    best.emplace(train_once<T>(c, p, true, comm));
  } else {
    // Every cell trains from the same seed on the same rows; the best validation score wins.
    const auto& g0 = c.grid[0];
    const std::vector<std::string> none{""};
    const auto& g1 = c.grid.size() > 1 ? c.grid[1].second : none;
    const std::map<std::string, std::string> pretty = {
        {"lr", "learning rate"}, {"l2", "L2 penalty \u03bb"}, {"l1", "L1 penalty \u03bb"}, {"batch", "batch size"},
        {"weight-decay", "weight decay"}, {"hidden", "hidden activation"}, {"beta1", "\u03b2\u2081"},
        {"beta2", "\u03b2\u2082"}};
    auto axis = [&](const std::string& n) {
      const auto it = pretty.find(n);
      return it == pretty.end() ? "--" + n : fmt::format("{} (--{})", it->second, n);
    };
    Heatmap map;
    map.title = c.title.empty() ? fmt::format("Grid search on {}: validation {}", c.data, regression ? "R\u00b2" : "accuracy")
                                : c.title;
    map.value_label = regression ? "validation R\u00b2" : "validation accuracy";
    if (c.grid.size() == 1) {
      map.rows = {""};
      map.cols = g0.second;
      map.col_label = axis(g0.first);
    } else {
      map.rows = g0.second;
      map.cols = g1;
      map.row_label = axis(g0.first);
      map.col_label = axis(c.grid[1].first);
    }
    double best_score = -std::numeric_limits<double>::infinity();
    for (const auto& v0 : g0.second) {
      for (const auto& v1 : g1) {
        Config cell = c;
        find_option(g0.first)->set(cell, v0);
        std::string label = fmt::format("{}={}", g0.first, v0);
        if (c.grid.size() > 1) {
          find_option(c.grid[1].first)->set(cell, v1);
          label += fmt::format(" {}={}", c.grid[1].first, v1);
        }
        double score = std::numeric_limits<double>::quiet_NaN();
        try {
          Run<T> r = train_once<T>(cell, p, false, comm);
          score = r.val.metric;
          fmt::print("grid {}: val_{} {:.4f}, train_loss {:.4f}, {:.1f} s\n", label, regression ? "r2" : "accuracy",
                     score, r.history.last().loss, r.seconds);
          if (score > best_score) {
            best_score = score;
            best.emplace(std::move(r));
            grid_keys = label;
            best_config = cell;
            map.highlight = static_cast<long>(map.values.size());
          }
        } catch (const ad::ValueError& e) {  // a diverging cell is a result, not a failure
          fmt::print("grid {}: failed ({})\n", label, e.what());
        }
        std::fflush(stdout);
        map.values.push_back(score);
      }
    }
    if (!best) throw ad::ValueError("grid search: every run failed; try smaller learning rates");
    fmt::print("best: {} (validation {} {:.4f})\n", grid_keys, regression ? "R^2" : "accuracy", best_score);
    map.decimals = 3;
    // the grid as a table (rows: first option, columns: second), on the terminal and as CSV
    const std::string corner = c.grid.size() > 1 ? g0.first + " \\ " + c.grid[1].first : g0.first;
    std::string table = fmt::format("{:>14}", corner), csv = c.grid.size() > 1 ? g0.first + "\\" + c.grid[1].first : g0.first;
    if (c.grid.size() > 1)
      for (const auto& v1 : g1) table += fmt::format(" {:>9}", v1), csv += "," + v1;
    else
      table += fmt::format(" {:>9}", regression ? "val_r2" : "val_acc"), csv += regression ? ",val_r2" : ",val_accuracy";
    table += "\n";
    csv += "\n";
    for (std::size_t i = 0; i < g0.second.size(); ++i) {
      table += fmt::format("{:>14}", g0.second[i]);
      csv += g0.second[i];
      for (std::size_t j = 0; j < g1.size(); ++j) {
        const double v = map.values[i * g1.size() + j];
        table += std::isnan(v) ? fmt::format(" {:>9}", "n/a") : fmt::format(" {:>9.4f}", v);
        csv += std::isnan(v) ? std::string(",") : fmt::format(",{:.6g}", v);
      }
      table += "\n";
      csv += "\n";
    }
    fmt::print("validation {} per grid cell:\n{}", regression ? "R^2" : "accuracy", table);
    if (!c.grid_csv.empty() && comm.root()) {
      write_text_file(c.grid_csv, csv);
      fmt::print("table: {}\n", c.grid_csv);
    }
    if (!c.heatmap.empty() && comm.root()) {
      write_text_file(c.heatmap, heatmap_svg(map));
      fmt::print("heatmap: {}\n", c.heatmap);
    }
  }

  Run<T>& r = *best;
  const History& h = r.history;
  if (r.lbfgs)
    fmt::print("lbfgs: {} iterations, {} evaluations of the loss and its gradient in {} epochs; training loss {:.6g} "
               "-> {:.6g}; the last epoch stopped: {}\n",
               r.lbfgs->iterations, r.lbfgs->evaluations, h.epochs.size(), r.lbfgs->first_loss, h.last().loss,
               r.lbfgs_stop);
  Evaluation test = evaluate(r.net, p.test.x, p.test.y, loss);
  if (comm.size() > 1) check_replicas(comm, r.net, "");  // every rank holds the same model
  // Under mpirun the files are rank 0's: the other ranks' standard output goes nowhere.
  if (!c.save.empty() && comm.root()) {
    save(r.net, c.save);
    p.meta.save(cli::Meta::path_for(c.save));
    fmt::print("saved: {} (+ {})\n", c.save, cli::Meta::path_for(c.save));
  }
  if (!c.history.empty() && comm.root()) {
    write_text_file(c.history, h.to_csv());
    fmt::print("history: {}\n", c.history);
  }
  if (!c.plot.empty() && comm.root()) {
    write_text_file(c.plot, history_svg(h, c.title.empty() ? default_title(best_config) : c.title));
    fmt::print("plot: {}\n", c.plot);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string last;
  if (!grid_keys.empty())
    for (const auto& kv : cli::split(grid_keys, ' ')) last += "best_" + kv + " ";
  if (regression) {
    const auto pred = predict(r.net, p.test.x);
    const double m = mse(pred, p.test.y), r2 = r2_score(pred, p.test.y);
    fmt::print("test: mse {:.6g}, R^2 {:.4f}\n", m, r2);
    last += fmt::format("test_mse={:.6g} test_r2={:.4f} train_loss={:.6g}", m, r2, h.last().loss);
  } else {
    const auto truth = p.test.labels();
    const std::size_t k = p.meta.class_names.size();
    fmt::print("test: accuracy {:.4f}, loss {:.4f} ({} rows)\n", test.metric, test.loss, truth.size());
    if (k <= 20) {
      fmt::print("confusion matrix (rows: true class, columns: predicted)\n{}",
                 format_confusion_matrix(confusion_matrix(test.predicted, truth, k), p.meta.class_names));
      fmt::print("{}", classification_report(test.predicted, truth, k).to_string(p.meta.class_names));
    }
    last += fmt::format("test_accuracy={:.4f} test_loss={:.4f} train_loss={:.4f} train_accuracy={:.4f}", test.metric,
                        test.loss, h.last().loss, h.last().metric);
  }
  if (p.has_val) last += fmt::format(" val_{}={:.4f}", regression ? "r2" : "accuracy", r.val.metric);
  last += fmt::format(" epochs={}", h.epochs.size());
  if (r.lbfgs) last += fmt::format(" lbfgs_iterations={} lbfgs_evaluations={}", r.lbfgs->iterations, r.lbfgs->evaluations);
  if (h.stopped_early || (p.has_val && h.best_epoch != h.epochs.size() && c.restore_best))
    last += fmt::format(" best_epoch={}", h.best_epoch);
  if (comm.size() > 1) last += fmt::format(" ranks={}", comm.size());
  last += fmt::format(" seconds={:.2f}", secs);
  fmt::print("{}\n", last);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::guarded_main("nn-train", [&] {
    bool help = false;
    Config c = parse(argc, argv, help);
    if (help) return 0;
    cli::set_blas_threads(c.threads);
    MpiSession mpi(&argc, &argv);  // started by mpirun: MPI, every process a rank
    Communicator& comm = mpi.world();
    if (!comm.root()) std::fflush(stdout), std::freopen("/dev/null", "w", stdout);  // rank 0 reports
    return cli::run_on_ranks(comm, "nn-train", [&] { return c.use_float ? run<float>(c, comm) : run<double>(c, comm); });
  });
}
