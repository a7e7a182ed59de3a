// Metrics: how good the predictions are, computed the way scikit-learn computes them.
//
// Classification works on integer labels: turn a model's (n, classes) scores into labels with
// argmax_rows (or a (n,) / (n, 1) probability with threshold_labels), then ask for accuracy,
// the confusion matrix (rows = truth, columns = predicted) or a per-class report of precision,
// recall, F1 and support. A class that is never predicted has precision 0 (scikit-learn's
// zero_division=0), and likewise recall and F1. Regression has mse and r2_score.
//
// Mismatched lengths or shapes are an ad::ShapeError; empty input or a label outside
// [0, classes) is an ad::ValueError.
#pragma once

#include <ad/error.hpp>

#include <ad/config.hpp>  // first: pins the array types

#include <xtensor/xarray.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace ad::nn {

/// Fraction of positions where predicted equals truth.
double accuracy(const std::vector<std::size_t>& predicted, const std::vector<std::size_t>& truth);

/// For each row of (n, k) scores, the column of its largest value (the first on ties).
std::vector<std::size_t> argmax_rows(const xt::xarray<double>& scores);
std::vector<std::size_t> argmax_rows(const xt::xarray<float>& scores);

/// For binary outputs of shape (n,) or (n, 1): 1 where the value is > t, else 0. Use t = 0.5
/// for probabilities and t = 0 for logits.
std::vector<std::size_t> threshold_labels(const xt::xarray<double>& scores, double t = 0.5);
std::vector<std::size_t> threshold_labels(const xt::xarray<float>& scores, double t = 0.5);

/// (classes, classes) counts: entry (i, j) = rows with truth i predicted as j.
xt::xarray<std::size_t> confusion_matrix(const std::vector<std::size_t>& predicted,
                                         const std::vector<std::size_t>& truth,
                                         std::size_t classes);
/// The matrix as a table: a "true\\pred" corner, one column per predicted class and one row per
/// true class, labelled by names (class indices where names is shorter), right-aligned.
std::string format_confusion_matrix(const xt::xarray<std::size_t>& cm, const std::vector<std::string>& names = {});

struct ClassReport {
  std::vector<double> precision, recall, f1;  ///< per class
  std::vector<std::size_t> support;           ///< rows of each class in truth
  double accuracy = 0, macro_f1 = 0;          ///< macro_f1: unweighted mean of f1 over classes
  /// A table in scikit-learn's layout (per class, then accuracy, macro avg, weighted avg).
  /// names label the rows; class indices are used if names is empty.
  std::string to_string(const std::vector<std::string>& names = {}) const;
};

ClassReport classification_report(const std::vector<std::size_t>& predicted,
                                  const std::vector<std::size_t>& truth, std::size_t classes);

/// Mean of the squared differences over all elements. Shapes must match, except that (n,)
/// and (n, 1) are accepted together.
double mse(const xt::xarray<double>& predicted, const xt::xarray<double>& truth);

/// Coefficient of determination 1 - SS_res / SS_tot, per output column and averaged (uniformly)
/// over columns, as scikit-learn's default. A constant truth column scores 1 if predicted
/// exactly, else 0.
double r2_score(const xt::xarray<double>& predicted, const xt::xarray<double>& truth);

}  // namespace ad::nn
