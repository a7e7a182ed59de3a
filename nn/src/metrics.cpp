// Metrics: accuracy, argmax, confusion matrix, per-class report, MSE, R^2.
#include <ad/nn/metrics.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ad::nn {
namespace {

std::string shape_text(const auto& a) {
  std::string s = "(";
  for (std::size_t i = 0; i < a.dimension(); ++i) s += fmt::format("{}{}", i ? ", " : "", a.shape()[i]);
  if (a.dimension() == 1) s += ",";
  return s + ")";
}

void check_pair(const char* who, const std::vector<std::size_t>& predicted,
                const std::vector<std::size_t>& truth) {
  if (predicted.size() != truth.size())
    throw ShapeError(fmt::format("{}: {} predictions but {} true labels", who, predicted.size(),
                                 truth.size()));
  if (truth.empty()) throw ValueError(fmt::format("{}: no labels to score", who));
}

void check_classes(const char* who, const std::vector<std::size_t>& labels, const char* what,
                   std::size_t classes) {
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= classes)
      throw ValueError(fmt::format("{}: {} label {} at position {} is not below classes = {}", who,
                                   what, labels[i], i, classes));
}

template <class T>
std::vector<std::size_t> argmax_impl(const xt::xarray<T>& s) {
  if (s.dimension() != 2 || s.shape()[1] == 0)
    throw ShapeError(fmt::format("argmax_rows: expected (n, classes) scores with classes >= 1, got "
                                 "shape {}; for one binary output use threshold_labels",
                                 shape_text(s)));
  const std::size_t n = s.shape()[0], k = s.shape()[1];
  std::vector<std::size_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const T* row = s.data() + i * k;
    std::size_t best = 0;
    for (std::size_t j = 1; j < k; ++j)
      if (row[j] > row[best]) best = j;
    out[i] = best;
  }
  return out;
}

template <class T>
std::vector<std::size_t> threshold_impl(const xt::xarray<T>& s, double t) {
  if (!(s.dimension() == 1 || (s.dimension() == 2 && s.shape()[1] == 1)))
    throw ShapeError(fmt::format("threshold_labels: expected (n,) or (n, 1) outputs, got shape {}; "
                                 "for several classes use argmax_rows", shape_text(s)));
  std::vector<std::size_t> out(s.shape()[0]);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(s.data()[i]) > t ? 1 : 0;
  return out;
}

/// Number of rows and columns of a regression target: (n,) is n x 1, (n, k) is n x k.
/// Accepts (n,) against (n, 1).
std::pair<std::size_t, std::size_t> check_regression(const char* who, const xt::xarray<double>& p,
                                                     const xt::xarray<double>& t) {
  auto vec_like = [](const xt::xarray<double>& a) {
    return a.dimension() == 1 || (a.dimension() == 2 && a.shape()[1] == 1);
  };
  const bool same = p.dimension() == t.dimension() &&
                    std::equal(p.shape().begin(), p.shape().end(), t.shape().begin());
  if (!same && !(vec_like(p) && vec_like(t) && p.shape()[0] == t.shape()[0]))
    throw ShapeError(fmt::format("{}: predicted shape {} differs from true shape {}", who,
                                 shape_text(p), shape_text(t)));
  if (t.size() == 0 || t.dimension() == 0)
    throw ValueError(fmt::format("{}: no values to score (shape {})", who, shape_text(t)));
  const std::size_t n = t.shape()[0];
  return {n, t.size() / n};
}

}  // namespace

double accuracy(const std::vector<std::size_t>& predicted, const std::vector<std::size_t>& truth) {
  check_pair("accuracy", predicted, truth);
  std::size_t right = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) right += predicted[i] == truth[i];
  return static_cast<double>(right) / static_cast<double>(truth.size());
}

std::vector<std::size_t> argmax_rows(const xt::xarray<double>& scores) { return argmax_impl(scores); }
std::vector<std::size_t> argmax_rows(const xt::xarray<float>& scores) { return argmax_impl(scores); }

std::vector<std::size_t> threshold_labels(const xt::xarray<double>& scores, double t) {
  return threshold_impl(scores, t);
}
std::vector<std::size_t> threshold_labels(const xt::xarray<float>& scores, double t) {
  return threshold_impl(scores, t);
}

xt::xarray<std::size_t> confusion_matrix(const std::vector<std::size_t>& predicted,
                                         const std::vector<std::size_t>& truth,
                                         std::size_t classes) {
  check_pair("confusion_matrix", predicted, truth);
  check_classes("confusion_matrix", predicted, "predicted", classes);
  check_classes("confusion_matrix", truth, "true", classes);
  xt::xarray<std::size_t> m = xt::zeros<std::size_t>({classes, classes});
  for (std::size_t i = 0; i < truth.size(); ++i) ++m(truth[i], predicted[i]);
  return m;
}

std::string format_confusion_matrix(const xt::xarray<std::size_t>& cm, const std::vector<std::string>& names) {
  auto name = [&](std::size_t k) { return k < names.size() ? names[k] : std::to_string(k); };
  std::size_t w = 4;
  for (std::size_t k = 0; k < cm.shape()[0]; ++k) w = std::max(w, name(k).size() + 1);
  for (auto v : cm) w = std::max(w, std::to_string(v).size() + 1);
  const std::size_t first = std::max<std::size_t>(w, 10);
  std::string s = fmt::format("{:>{}}", "true\\pred", first);
  for (std::size_t j = 0; j < cm.shape()[1]; ++j) s += fmt::format("{:>{}}", name(j), w);
  s += '\n';
  for (std::size_t i = 0; i < cm.shape()[0]; ++i) {
    s += fmt::format("{:>{}}", name(i), first);
    for (std::size_t j = 0; j < cm.shape()[1]; ++j) s += fmt::format("{:>{}}", cm(i, j), w);
    s += '\n';
  }
  return s;
}

ClassReport classification_report(const std::vector<std::size_t>& predicted,
                                  const std::vector<std::size_t>& truth, std::size_t classes) {
  check_pair("classification_report", predicted, truth);  // else the error would name confusion_matrix
  const xt::xarray<std::size_t> m = confusion_matrix(predicted, truth, classes);
  ClassReport r;
  r.precision.resize(classes);
  r.recall.resize(classes);
  r.f1.resize(classes);
  r.support.resize(classes);
  std::size_t right = 0;
  for (std::size_t c = 0; c < classes; ++c) {
    std::size_t col = 0, row = 0;
    for (std::size_t j = 0; j < classes; ++j) {
      col += m(j, c);
      row += m(c, j);
    }
    const double tp = static_cast<double>(m(c, c));
    right += m(c, c);
    r.support[c] = row;
    r.precision[c] = col ? tp / static_cast<double>(col) : 0.0;
    r.recall[c] = row ? tp / static_cast<double>(row) : 0.0;
    const double s = r.precision[c] + r.recall[c];
    r.f1[c] = s > 0 ? 2 * r.precision[c] * r.recall[c] / s : 0.0;
  }
  r.accuracy = static_cast<double>(right) / static_cast<double>(truth.size());
  r.macro_f1 = classes ? std::accumulate(r.f1.begin(), r.f1.end(), 0.0) / static_cast<double>(classes) : 0.0;
  return r;
}

std::string ClassReport::to_string(const std::vector<std::string>& names) const {
  const std::size_t k = f1.size();
  std::size_t width = 12;
  for (const auto& n : names) width = std::max(width, n.size());
  auto name = [&](std::size_t c) { return c < names.size() ? names[c] : std::to_string(c); };
  std::string s = fmt::format("{:>{}}  {:>9} {:>9} {:>9} {:>9}\n", "", width, "precision",
                              "recall", "f1-score", "support");
  std::size_t total = 0;
  double mp = 0, mr = 0, wp = 0, wr = 0, wf = 0;
  for (std::size_t c = 0; c < k; ++c) {
    s += fmt::format("{:>{}}  {:>9.4f} {:>9.4f} {:>9.4f} {:>9}\n", name(c), width, precision[c],
                     recall[c], f1[c], support[c]);
    total += support[c];
    mp += precision[c];
    mr += recall[c];
    wp += precision[c] * static_cast<double>(support[c]);
    wr += recall[c] * static_cast<double>(support[c]);
    wf += f1[c] * static_cast<double>(support[c]);
  }
  const double kk = k ? static_cast<double>(k) : 1.0, tt = total ? static_cast<double>(total) : 1.0;
  s += "\n";
  s += fmt::format("{:>{}}  {:>9} {:>9} {:>9.4f} {:>9}\n", "accuracy", width, "", "", accuracy, total);
  s += fmt::format("{:>{}}  {:>9.4f} {:>9.4f} {:>9.4f} {:>9}\n", "macro avg", width, mp / kk,
                   mr / kk, macro_f1, total);
  s += fmt::format("{:>{}}  {:>9.4f} {:>9.4f} {:>9.4f} {:>9}\n", "weighted avg", width, wp / tt,
                   wr / tt, wf / tt, total);
  return s;
}

double mse(const xt::xarray<double>& predicted, const xt::xarray<double>& truth) {
  check_regression("mse", predicted, truth);
  double s = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const double d = predicted.data()[i] - truth.data()[i];
    s += d * d;
  }
  return s / static_cast<double>(truth.size());
}

double r2_score(const xt::xarray<double>& predicted, const xt::xarray<double>& truth) {
  const auto [n, k] = check_regression("r2_score", predicted, truth);
  if (n < 2) throw ValueError("r2_score: needs at least 2 samples");
  double total = 0;
  for (std::size_t j = 0; j < k; ++j) {
    double mean = 0;
    for (std::size_t i = 0; i < n; ++i) mean += truth.data()[i * k + j];
    mean /= static_cast<double>(n);
    double res = 0, tot = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double t = truth.data()[i * k + j], p = predicted.data()[i * k + j];
      res += (t - p) * (t - p);
      tot += (t - mean) * (t - mean);
    }
    total += tot > 0 ? 1.0 - res / tot : (res == 0 ? 1.0 : 0.0);
  }
  return total / static_cast<double>(k);
}

}  // namespace ad::nn
