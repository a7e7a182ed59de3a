// nn-predict: apply a model saved by nn-train to data, print the predictions, and the metrics
// when the data has labels.
//
//   nn-predict --model digits.model --data digits --split test
//   nn-predict --model digits.model --data new.csv --output predictions.csv
//
// The model comes with "<model>.meta" (written by nn-train): the input scaling fitted on the
// training rows, the class names, the loss and how the data was split. A model saved from C++ with
// ad::nn::save has no .meta file; it is then used on unscaled inputs with numbered classes.
// Exit codes: 0 success, 2 bad usage, 1 any other error (a missing or malformed file).
#include "cli_common.hpp"

#include <ad/nn/data.hpp>
#include <ad/nn/metrics.hpp>
#include <ad/nn/serialize.hpp>
#include <ad/nn/train.hpp>

#include <fmt/format.h>

#include <fstream>
#include <functional>
#include <optional>

using namespace ad::nn;
using cli::UsageError;

namespace {

constexpr const char* kHelpHead = R"(usage: nn-predict --model FILE --data NAME|FILE [options]

Applies a model saved by nn-train (FILE and FILE.meta) to data and prints one prediction per row
as CSV (row,predicted[,true]). When the data has labels it also prints the accuracy, the confusion
matrix and a per-class report (mse and R^2 for regression).

)";
constexpr const char* kHelpTail = R"(
The last line is key=value pairs: rows=N, and accuracy= (or mse= and r2=) when there are labels.
Exit status: 0 success, 2 bad usage, 1 other errors (missing or malformed files).

Example:
  nn-train --save digits.model && nn-predict --model digits.model --data digits --split test
)";

struct Args {
  std::string model, data, labels_idx, split = "all", output;
  std::optional<int> label_column;  // -2 = none
  bool probabilities = false;
};

/// The command line, by CLI11 (cli::parse); each option's callback checks its value as it is
/// read.
Args parse(int argc, char** argv, bool& help) {
  Args a;
  CLI::App app{"", "nn-predict"};
  auto value = [&](const char* name, const char* meta, const char* text, std::function<void(const std::string&)> f) {
    app.add_option_function<std::string>(name, std::move(f), text)->type_name(meta)->trigger_on_parse();
  };
  value("--model", "FILE", "the model file written by nn-train --save (required)",
        [&](const std::string& v) { a.model = v; });
  value("--data", "NAME|FILE",
        "a built-in data set or a CSV file (required); a CSV may have just the\n"
        "feature columns (no labels) or the features plus the label column",
        [&](const std::string& v) { a.data = v; });
  value("--label-column", "N|none",
        "CSV: column of the label (0-based, -1 = last); none = no labels\n"
        "[as in training; a CSV with one column too few has no labels]",
        [&](const std::string& v) {
          if (v == "none") {
            a.label_column = -2;
            return;
          }
          char* end = nullptr;
          const long n = std::strtol(v.c_str(), &end, 10);
          if (v.empty() || *end || n < -1)
            throw UsageError{
                fmt::format("--label-column: '{}' is not a column index (0, 1, ..., -1 for the last) or none", v)};
          a.label_column = static_cast<int>(n);
        });
  value("--labels", "FILE", "IDX labels file: --data is then the IDX images file",
        [&](const std::string& v) { a.labels_idx = v; });
  value("--split", "all|test",
        "all rows, or only the test rows of the split nn-train made (same data,\n"
        "fraction and seed, read from FILE.meta) [all]",
        [&](const std::string& v) { a.split = cli::choice("--split", v, {"all", "test"}); });
  value("--output", "FILE", "write the predictions there instead of printing them",
        [&](const std::string& v) { a.output = v; });
  app.add_flag_function("--probabilities", [&](std::int64_t) { a.probabilities = true; },
                        "add one column per class with the model's output")
      ->trigger_on_parse();
  cli::add_help(app);
  auto help_format = std::make_shared<cli::HelpFormatter>();
  help_format->head = kHelpHead;
  help_format->tail = kHelpTail;
  help_format->column = 24;
  help_format->width = 0;  // the descriptions are wrapped by hand
  help_format->headings = false;
  app.formatter(help_format);

  std::vector<std::string> rest;
  const auto needs_value = [](const CLI::Option&, const std::string& token) {
    return fmt::format("{} needs a value", token);
  };
  if (!cli::parse(app, argc, argv, needs_value, rest)) {
    help = true;
    return a;
  }
  if (!rest.empty()) {
    const std::string& arg = rest.front();
    std::vector<std::string> valid;
    for (const CLI::Option* o : app.get_options()) valid.push_back(o->get_name());
    std::string best;
    std::size_t dist = 99;
    for (const auto& v : valid)
      if (cli::edit_distance(arg, v) < dist) dist = cli::edit_distance(arg, v), best = v;
    throw UsageError{fmt::format("unknown option '{}'{}; valid options: {}", arg,
                                 dist <= 3 ? fmt::format(" (did you mean {}?)", best) : "", cli::join(valid, " "))};
  }
  if (a.model.empty()) throw UsageError{"--model FILE is required (a model saved by nn-train --save)"};
  if (a.data.empty()) throw UsageError{"--data NAME|FILE is required (" + cli::join(builtin_names()) + " or a CSV file)"};
  return a;
}

/// Reads the dtype line of a model file ("float32" or "float64"); the loader checks the rest.
std::string model_dtype(const std::string& path) {
  std::ifstream in(path);
  std::string l1, l2;
  if (in && std::getline(in, l1) && std::getline(in, l2) && l2.rfind("dtype ", 0) == 0) return l2.substr(6);
  return "float64";
}

template <class T>
int run(const Args& a, const cli::Meta& meta, bool have_meta) {
  Sequential<T> net = load_model<T>(a.model);
  std::size_t features = meta.features;
  for (std::size_t i = 0; i < net.size() && features == 0; ++i)
    if (auto* lin = dynamic_cast<Linear<T>*>(&net[i])) features = lin->in_features();

  // Data: with labels if the file has them.
  Dataset d;
  if (!a.labels_idx.empty() || cli::is_builtin(a.data)) {
    d = cli::load_data(a.data, a.labels_idx, -1);
  } else {
    const int lc = a.label_column.value_or(meta.label_column);
    d = cli::load_data(a.data, "", -2);  // first look at the columns
    if (lc != -2 && !a.label_column && d.features() == features) {
      // only feature columns: no labels
    } else if (lc != -2) {
      d = cli::load_data(a.data, "", lc);
    }
  }
  if (a.split == "test") {
    if (!have_meta || meta.test_fraction <= 0)
      throw UsageError{fmt::format("--split test: {} does not record a test split (train with --test-fraction > 0 "
                                   "and without --test-data)",
                                   cli::Meta::path_for(a.model))};
    if (a.data != meta.data)
      throw UsageError{fmt::format("--split test: the model was trained on '{}', not '{}'", meta.data, a.data)};
    d = train_test_split(d, meta.test_fraction, meta.seed, meta.stratify).test;
  }
  if (d.features() != features)
    throw ad::ShapeError(fmt::format("{}: {} feature columns, but the model {} takes {}", a.data, d.features(),
                                     a.model, features));
  meta.scaling.apply(d.x);
  const bool regression = meta.task == "regression";
  const xt::xarray<double> scores = predict(net, d.x);
  const bool labelled = d.y.size() == d.size() || (regression && d.y.size() > 0);
  std::vector<std::string> names = meta.class_names;
  if (names.empty() && !regression)
    for (std::size_t k = 0; k < std::max<std::size_t>(scores.shape()[1], 2); ++k) names.push_back(std::to_string(k));
  auto name = [&](std::size_t k) { return k < names.size() ? names[k] : std::to_string(k); };

  std::vector<std::size_t> predicted;
  if (!regression) predicted = classes_from_scores(scores, 0.5);
  std::vector<std::size_t> truth;
  if (labelled && !regression) truth = d.labels();

  // predictions as CSV
  std::string out = regression ? "row,prediction" : "row,predicted";
  if (labelled) out += regression ? ",target" : ",true";
  if (a.probabilities)
    for (std::size_t k = 0; k < scores.shape()[1]; ++k) out += regression ? fmt::format(",output{}", k) : ",p_" + name(k);
  out += '\n';
  for (std::size_t i = 0; i < d.size(); ++i) {
    out += std::to_string(i) + ',' + (regression ? fmt::format("{:.8g}", scores(i, 0)) : name(predicted[i]));
    if (labelled) out += ',' + (regression ? fmt::format("{:.8g}", d.y.data()[i * (d.y.size() / d.size())]) : name(truth[i]));
    if (a.probabilities)
      for (std::size_t k = 0; k < scores.shape()[1]; ++k) out += fmt::format(",{:.6g}", scores(i, k));
    out += '\n';
  }
  if (a.output.empty()) {
    fmt::print("{}", out);
  } else {
    std::ofstream f(a.output);
    f << out;
    if (!f.flush()) throw ad::IoError(fmt::format("cannot write {}", a.output));
    fmt::print("predictions: {} ({} rows)\n", a.output, d.size());
  }

  std::string last = fmt::format("rows={}", d.size());
  if (labelled && regression) {
    const double m = mse(scores, d.y), r2 = r2_score(scores, d.y);
    fmt::print("mse {:.6g}, R^2 {:.4f}\n", m, r2);
    last += fmt::format(" mse={:.6g} r2={:.4f}", m, r2);
  } else if (labelled) {
    const std::size_t k = std::max({names.size(), scores.shape()[1] == 1 ? std::size_t(2) : scores.shape()[1]});
    const double acc = accuracy(predicted, truth);
    fmt::print("accuracy {:.4f} ({} of {} rows)\n", acc, static_cast<std::size_t>(std::lround(acc * d.size())), d.size());
    fmt::print("confusion matrix (rows: true class, columns: predicted)\n{}{}",
               format_confusion_matrix(confusion_matrix(predicted, truth, k), names),
               classification_report(predicted, truth, k).to_string(names));
    last += fmt::format(" accuracy={:.4f}", acc);
  }
  fmt::print("{}\n", last);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::guarded_main("nn-predict", [&] {
    bool help = false;
    const Args a = parse(argc, argv, help);
    if (help) return 0;
    cli::set_blas_threads(-1);
    cli::Meta meta;
    bool have_meta = false;
    const std::string mp = cli::Meta::path_for(a.model);
    if (std::ifstream(mp)) {
      meta = cli::Meta::load(mp);
      have_meta = true;
    } else if (std::ifstream(a.model)) {
      fmt::print(stderr, "nn-predict: warning: {} not found; using unscaled inputs and numbered classes\n", mp);
      meta.dtype = model_dtype(a.model);
    }
    return meta.dtype == "float32" ? run<float>(a, meta, have_meta) : run<double>(a, meta, have_meta);
  });
}
