// Pictures of training as self-contained SVG files: a line chart of the training history (loss
// and accuracy per epoch, training and validation, in two panels) and a heatmap of a grid search
// (one cell per pair of hyperparameter values, the value written in the cell).
//
// SVG is text, needs no library, and opens in any browser. The writers produce fixed-size
// pictures with axes, "nice" tick values (1, 2, 5 times a power of ten), axis labels, a title
// and a legend or colour bar; non-finite values (NaN, for instance a validation loss when there
// was no validation set) leave a gap in a line or a grey cell marked "n/a".
//
//   auto h = ad::nn::fit(net, opt, x, y, {...});
//   ad::nn::write_text_file("history.svg", ad::nn::history_svg(h, "digits 64-50-10"));
//
//   ad::nn::Heatmap g{.title = "validation accuracy", .row_label = "learning rate",
//                     .col_label = "L2", .rows = {"0.01", "0.1"}, .cols = {"0", "1e-4"},
//                     .values = {0.91, 0.93, 0.95, 0.96}};
//   ad::nn::write_text_file("grid.svg", ad::nn::heatmap_svg(g));
#pragma once

#include <ad/nn/train.hpp>

#include <limits>
#include <string>
#include <vector>

namespace ad::nn {

/// One line of a chart: points (x[i], y[i]); a non-finite y breaks the line.
struct Series {
  std::string name;
  std::vector<double> x, y;
  std::string color = "#1f77b4";
  bool dashed = false;
};

/// One set of axes with its lines.
struct Panel {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  /// If set, the y axis spans at least [y_min, y_max] (e.g. 0..1 for an accuracy); the data can
  /// widen it. NaN = from the data only.
  double y_min = std::numeric_limits<double>::quiet_NaN();
  double y_max = std::numeric_limits<double>::quiet_NaN();
  /// Logarithmic y axis (ticks at powers of ten); values <= 0 leave gaps.
  bool log_y = false;
};

/// Panels side by side in one SVG picture, under an optional title.
std::string line_chart_svg(const std::vector<Panel>& panels, const std::string& title = "");

/// The history of fit(): a loss panel and an accuracy (or R^2) panel, training solid and
/// validation dashed, x = epoch. The validation lines appear only when there was validation data.
/// The loss axis is logarithmic when the loss spans more than two orders of magnitude.
std::string history_svg(const History& history, const std::string& title = "");

/// A grid of values: rows x cols, row-major in `values`.
struct Heatmap {
  std::string title;
  std::string row_label, col_label;   ///< axis titles, e.g. "learning rate", "L2"
  std::vector<std::string> rows, cols;  ///< the tick labels (the grid values as text)
  std::vector<double> values;         ///< rows.size() * cols.size(), row-major; NaN = no value
  std::string value_label;            ///< colour bar title, e.g. "validation accuracy"
  int decimals = 3;                   ///< digits after the point in the cells
  long highlight = -1;                ///< row-major index of a cell to outline (the best), -1 none
};

/// The heatmap as SVG (viridis colour scale, values in the cells, colour bar, the highlighted
/// cell outlined in red). ad::ShapeError if
/// values.size() != rows.size() * cols.size() or the grid is empty.
std::string heatmap_svg(const Heatmap& map);

/// Tick positions for an axis over [lo, hi]: about `target` round numbers (1, 2 or 5 times a
/// power of ten) covering the range. Returned as the first and last tick plus the step.
struct Ticks {
  double first = 0, last = 1, step = 0.2;
  std::vector<double> values() const;
};
Ticks nice_ticks(double lo, double hi, int target = 5);

/// Writes text to path (through a temporary file renamed over it); ad::IoError naming the file
/// if that fails.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace ad::nn
