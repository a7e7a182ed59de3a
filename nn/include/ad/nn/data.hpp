// Data: loading, splitting, encoding and scaling, everything between a file and a training loop.
//
// A Dataset is two arrays, x (n, features) and y (n,) or (n, k), plus optional names. Loaders
// read CSV (plain or gzipped) and IDX, the MNIST / Fashion-MNIST format (plain or gzipped,
// through zlib); the built-in data sets (digits, breast cancer, iris, Fashion-MNIST, logic
// gates) come by name. Pixels and features are returned raw, exactly as stored: scaling is the
// caller's decision, made with StandardScaler, MinMaxScaler or MaxScaler fitted on the training
// part only (fit on train, transform train and test), so no test statistics leak into training.
//
// Bad input never crashes: a missing, empty, truncated or foreign file is an ad::IoError naming
// the file; a cell that is not a number is an ad::ParseError naming file, line and column; a
// ragged row is an ad::ShapeError naming file and line; NaN/Inf in data is an ad::ValueError
// naming file, line and column. IDX headers are checked against the file's size before any
// allocation, so a corrupt header cannot ask for gigabytes.
#pragma once

#include <ad/error.hpp>

#include <ad/config.hpp>  // first: pins the array types

#include <xtensor/xarray.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ad::nn {

/// Features and targets of n samples, held as T: `Dataset` (double) or `FloatDataset` (float, half
/// the memory, for a float32 model: Fashion-MNIST's training images take 188 MB instead of 376).
/// Every loader takes the element type as a template argument that defaults to double:
/// `load_builtin<float>("fashion-mnist")` reads the file straight into floats.
template <class T>
struct BasicDataset {
  xt::xarray<T> x;  ///< (n, features)
  /// (n,) integer class labels stored as T, or (n,) / (n, k) regression targets;
  /// shape (0,) when the data has no targets (CsvOptions::label_column = -2).
  xt::xarray<T> y;
  std::vector<std::string> class_names;    ///< empty for regression
  std::vector<std::string> feature_names;  ///< may be empty

  std::size_t size() const;      ///< n, the number of rows of x
  std::size_t features() const;  ///< columns of x
  /// class_names.size() if set, else max label + 1 (0 for no rows).
  std::size_t classes() const;
  /// y as integer labels; throws ad::ValueError if y is not (n,) or (n, 1) of non-negative
  /// integers (the message names the first offending row).
  std::vector<std::size_t> labels() const;
  /// The given rows (in that order, repeats allowed), names kept. ad::ShapeError if a row is
  /// out of range.
  BasicDataset subset(const std::vector<std::size_t>& rows) const;
  /// A copy with x and y converted to U (names kept). To float, a value beyond float's range is an
  /// ad::ValueError naming the row and column rather than an infinity.
  template <class U>
  BasicDataset<U> as() const;
};

using Dataset = BasicDataset<double>;
using FloatDataset = BasicDataset<float>;

/// Only an xt::xarray<float> argument selects the float overloads of the scalers, fit, evaluate
/// and predict; an xtensor expression still converts to xt::xarray<double>, as before.
template <class X>
concept FloatArray = std::same_as<X, xt::xarray<float>>;

struct CsvOptions {
  /// Column of the target: -1 = last, -2 = none (y is empty), otherwise a 0-based index.
  int label_column = -1;
  char delimiter = ',';
  /// -1 = detect, 0 = no header, 1 = the first row is a header. Detected as a header: a first
  /// row with a cell that is not a number, or the scikit-learn layout `n,features,class names...`
  /// (`569,30,malignant,benign`), whose counts are then checked and whose names become
  /// class_names. Any other header gives feature_names (the label column's name dropped).
  int header = -1;
};

/// Reads a .csv or .csv.gz file (gzip is recognised by its content, not its name). Blank lines
/// are skipped; cells may be quoted ("1.5") and padded with spaces; CRLF line ends are fine.
/// When class names come from the header, each label must be an integer in [0, classes).
template <class T = double>
BasicDataset<T> load_csv(const std::string& path, const CsvOptions& options = {});

/// MNIST-style IDX pair: images (n, rows, cols) and labels (n,), each gzipped or plain.
/// x is (n, rows*cols) of raw pixel values (0..255 for ubyte), y the labels.
/// ad::ValueError if the counts differ.
template <class T = double>
BasicDataset<T> load_idx(const std::string& images_path, const std::string& labels_path);

/// Any IDX file (ubyte, sbyte, short, int, float, double), gzipped or plain, as doubles with the
/// shape of its header.
xt::xarray<double> load_idx_array(const std::string& path);
/// The same as floats: half the memory, for a float32 model (Fashion-MNIST's training images: 188 MB
/// instead of 376). ubyte, sbyte and short values are exact; int and double values are rounded to
/// float.
xt::xarray<float> load_idx_array_float(const std::string& path);

/// The folder of the shipped data sets: $AD_DATA_DIR if set, else the compile-time AD_DATA_DIR.
std::string data_dir();

/// 1797 x 64 handwritten digits 8x8, raw pixels 0..16 (scale them yourself, e.g. / 16);
/// class names "0".."9".
template <class T = double>
BasicDataset<T> load_digits();
/// 569 x 30 Wisconsin diagnostic breast cancer; labels 0 malignant, 1 benign.
template <class T = double>
BasicDataset<T> load_breast_cancer();
/// 150 x 4 Fisher's iris; classes setosa, versicolor, virginica.
template <class T = double>
BasicDataset<T> load_iris();
/// Fashion-MNIST from Debian's dataset-fashion-mnist package
/// (/usr/share/datasets/fashion-mnist, or $AD_FASHION_MNIST_DIR): train 60000 x 784,
/// test 10000 x 784, raw pixels 0..255, 10 classes. ad::IoError naming the path and the
/// package if the files are missing.
template <class T = double>
BasicDataset<T> load_fashion_mnist(bool train);
/// The 4 rows of a two-input truth table: "xor", "and", "or", "nand", "nor", "xnor".
/// x = (0,0), (0,1), (1,0), (1,1); classes "0", "1".
template <class T = double>
BasicDataset<T> load_gates(const std::string& gate);
/// By name: "digits", "breast-cancer", "iris", "fashion-mnist" (train part),
/// "fashion-mnist-test", and the gates "xor", "and", "or", "nand", "nor", "xnor".
/// ad::ValueError listing the valid names for any other name.
template <class T = double>
BasicDataset<T> load_builtin(const std::string& name);
/// The names load_builtin accepts.
std::vector<std::string> builtin_names();

template <class T>
struct BasicSplit {
  BasicDataset<T> train, test;
};
using Split = BasicSplit<double>;

/// Shuffles with Rng(seed).permutation(n) and puts ceil(n * test_fraction) rows in test (as
/// scikit-learn does; 1797 rows at 0.2 give 1437 / 360), the first part of the permutation in
/// train; both parts keep the shuffled order. With stratify, every class's share of the test
/// part is within one row of its share of the data (largest remainders). ad::ValueError if
/// test_fraction is not in (0, 1) or either part would be empty.
template <class T>
BasicSplit<T> train_test_split(const BasicDataset<T>& d, double test_fraction, std::uint64_t seed,
                               bool stratify = false);

/// (n, classes) rows of zeros with a 1 at each label; ad::ValueError if a label >= classes.
xt::xarray<double> one_hot(const std::vector<std::size_t>& labels, std::size_t classes);

/// Per column: (x - mean) / scale with the population standard deviation (ddof 0);
/// zero-variance columns get scale 1. Fit on the training part only. Statistics are over
/// axis 0, so x may be (n, features) or (n,).
class StandardScaler {
 public:
  void fit(const xt::xarray<double>& x);
  /// The same from float data (a FloatDataset); the statistics are computed and kept in double.
  template <FloatArray X>
  void fit(const X& x);
  xt::xarray<double> transform(const xt::xarray<double>& x) const;
  /// Float data in, float data out, computed in double and rounded once.
  template <FloatArray X>
  xt::xarray<float> transform(const X& x) const;
  xt::xarray<double> fit_transform(const xt::xarray<double>& x);
  template <FloatArray X>
  xt::xarray<float> fit_transform(const X& x);
  /// x * scale + mean.
  xt::xarray<double> inverse_transform(const xt::xarray<double>& x) const;
  template <FloatArray X>
  xt::xarray<float> inverse_transform(const X& x) const;
  /// transform(x) written over x, without a second copy of the data (Fashion-MNIST's training
  /// set is 376 MB of doubles); the same numbers as transform.
  void transform_in_place(xt::xarray<double>& x) const;
  template <FloatArray X>
  void transform_in_place(X& x) const;
  xt::xarray<double> mean, scale;  ///< shape x.shape[1:] after fit; empty before
};

/// Per column: (x - min) / range, mapping the training range to [0, 1] (test values may fall
/// outside); constant columns get range 1.
class MinMaxScaler {
 public:
  void fit(const xt::xarray<double>& x);
  /// The same from float data (a FloatDataset); the statistics are computed and kept in double.
  template <FloatArray X>
  void fit(const X& x);
  xt::xarray<double> transform(const xt::xarray<double>& x) const;
  /// Float data in, float data out, computed in double and rounded once.
  template <FloatArray X>
  xt::xarray<float> transform(const X& x) const;
  xt::xarray<double> fit_transform(const xt::xarray<double>& x);
  template <FloatArray X>
  xt::xarray<float> fit_transform(const X& x);
  /// x * range + min.
  xt::xarray<double> inverse_transform(const xt::xarray<double>& x) const;
  template <FloatArray X>
  xt::xarray<float> inverse_transform(const X& x) const;
  /// transform(x) written over x (see StandardScaler::transform_in_place).
  void transform_in_place(xt::xarray<double>& x) const;
  template <FloatArray X>
  void transform_in_place(X& x) const;
  xt::xarray<double> min, range;  ///< shape x.shape[1:] after fit; empty before
};

/// Every entry divided by one number, the largest absolute value of the training data (digits:
/// 16, Fashion-MNIST: 255): training values land in [-1, 1] and the columns keep their sizes
/// relative to each other, as pixels should. Unlike scikit-learn's MaxAbsScaler (a divisor per
/// column), one divisor for all columns; all-zero training data gets divisor 1. Any shape.
/// This is `nn-train --scale max`.
class MaxScaler {
 public:
  void fit(const xt::xarray<double>& x);
  /// The same from float data (a FloatDataset); the statistics are computed and kept in double.
  template <FloatArray X>
  void fit(const X& x);
  xt::xarray<double> transform(const xt::xarray<double>& x) const;
  /// Float data in, float data out, computed in double and rounded once.
  template <FloatArray X>
  xt::xarray<float> transform(const X& x) const;
  xt::xarray<double> fit_transform(const xt::xarray<double>& x);
  template <FloatArray X>
  xt::xarray<float> fit_transform(const X& x);
  /// x * divisor.
  xt::xarray<double> inverse_transform(const xt::xarray<double>& x) const;
  template <FloatArray X>
  xt::xarray<float> inverse_transform(const X& x) const;
  /// transform(x) written over x (see StandardScaler::transform_in_place).
  void transform_in_place(xt::xarray<double>& x) const;
  template <FloatArray X>
  void transform_in_place(X& x) const;
  double divisor = 0;  ///< > 0 after fit; 0 before
};

/// Minibatch helper: gathers rows idx[begin, end) of x into out, shape (end - begin, x.shape[1:]),
/// converting to T. out is resized only when its shape changes, so a training loop allocates
/// for its first batch (and the last, shorter one) only. ad::ShapeError for a bad range or row.
/// Instantiated for float and double.
template <class T>
void gather_rows(const xt::xarray<double>& x, const std::vector<std::size_t>& idx,
                 std::size_t begin, std::size_t end, xt::xarray<T>& out);

namespace detail {
template <class T>
void gather_rows_float(const xt::xarray<float>& x, const std::vector<std::size_t>& idx, std::size_t begin,
                       std::size_t end, xt::xarray<T>& out);
}  // namespace detail

/// gather_rows from data held as float (load_idx_array_float, or converted once): a float batch
/// is then one memcpy per row, no conversion. Only an xt::xarray<float> argument selects it (an
/// expression still goes to the double version, as before).
template <class T, class X>
  requires std::same_as<X, xt::xarray<float>>
void gather_rows(const X& x, const std::vector<std::size_t>& idx, std::size_t begin, std::size_t end,
                 xt::xarray<T>& out) {
  detail::gather_rows_float(x, idx, begin, end, out);
}

extern template struct BasicDataset<float>;
extern template struct BasicDataset<double>;

extern template void gather_rows<float>(const xt::xarray<double>&, const std::vector<std::size_t>&,
                                        std::size_t, std::size_t, xt::xarray<float>&);
extern template void gather_rows<double>(const xt::xarray<double>&,
                                         const std::vector<std::size_t>&, std::size_t,
                                         std::size_t, xt::xarray<double>&);

}  // namespace ad::nn
