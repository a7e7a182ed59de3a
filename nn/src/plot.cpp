// SVG line charts and heatmaps (see plot.hpp). Plain string building: every element is one
// line of text, coordinates rounded to 0.1 px, text escaped for XML.
#include <ad/error.hpp>
#include <ad/nn/plot.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace ad::nn {

namespace {

constexpr const char* kFont = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

std::string esc(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v) { return fmt::format("{:.1f}", v); }

/// A tick label with as many decimals as the step needs.
std::string tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-9) v = 0;
  const double a = std::abs(v);
  if (a != 0 && (a >= 1e6 || a < 1e-4)) return fmt::format("{:g}", v);
  const int dec = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  return fmt::format("{:.{}f}", v, std::clamp(dec, 0, 8));
}

std::string text(double x, double y, const std::string& s, const char* anchor = "middle", int size = 12,
                 const std::string& extra = "") {
  return fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"{}\" font-size=\"{}\"{}>{}</text>\n", num(x), num(y),
                     anchor, size, extra.empty() ? "" : " " + extra, esc(s));
}

std::string svg_open(double w, double h) {
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" {2}>\n"
      "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n",
      static_cast<int>(w), static_cast<int>(h), kFont);
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
};

// Viridis, sampled at 9 points (matplotlib's colormap), interpolated linearly.
std::string viridis(double t) {
  static constexpr std::array<std::array<double, 3>, 9> stops{{{68, 1, 84},
                                                               {72, 40, 120},
                                                               {62, 73, 137},
                                                               {49, 104, 142},
                                                               {38, 130, 142},
                                                               {31, 158, 137},
                                                               {53, 183, 121},
                                                               {110, 206, 88},
                                                               {253, 231, 37}}};
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * (stops.size() - 1);
  const std::size_t i = std::min<std::size_t>(static_cast<std::size_t>(t), stops.size() - 2);
  const double f = t - static_cast<double>(i);
  int c[3];
  for (int k = 0; k < 3; ++k) c[k] = static_cast<int>(std::lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k])));
  return fmt::format("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
}

// One panel of a line chart, drawn with its top-left corner at (ox, oy).
std::string draw_panel(const Panel& p, double ox, double oy, double w, double h) {
  const double left = 64, right = 16, top = 30, bottom = 48;
  const double px = ox + left, py = oy + top, pw = w - left - right, ph = h - top - bottom;
  // On a log axis every y is drawn as log10(y); non-positive values become gaps.
  auto ty = [&](double v) { return p.log_y ? (v > 0 ? std::log10(v) : std::numeric_limits<double>::quiet_NaN()) : v; };
  Range xr, yr;
  for (const auto& s : p.series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(ty(s.y[i]))) xr.add(s.x[i]), yr.add(ty(s.y[i]));
  if (!p.log_y && std::isfinite(p.y_min)) yr.add(p.y_min);
  if (!p.log_y && std::isfinite(p.y_max)) yr.add(p.y_max);
  if (xr.empty()) xr.lo = 0, xr.hi = 1;
  if (yr.empty()) yr.lo = 0, yr.hi = 1;
  if (xr.hi == xr.lo) xr.lo -= 1, xr.hi += 1;
  if (yr.hi == yr.lo) yr.lo -= std::max(1.0, std::abs(yr.lo)) * 0.5, yr.hi += std::max(1.0, std::abs(yr.hi)) * 0.5;
  Ticks xt = nice_ticks(xr.lo, xr.hi, 6), yt = nice_ticks(yr.lo, yr.hi, 5);
  if (p.log_y) {  // whole decades
    yt.first = std::floor(yr.lo);
    yt.last = std::max(std::ceil(yr.hi), yt.first + 1);
    yt.step = std::max(1.0, std::ceil((yt.last - yt.first) / 6));
    yt.last = yt.first + yt.step * std::ceil((yt.last - yt.first) / yt.step);
  }
  if (xt.step < 1 && xr.hi - xr.lo >= 1 && std::floor(xr.lo) == xr.lo) {  // epochs: whole numbers
    xt.step = 1;
    xt.first = std::floor(xr.lo);
    xt.last = std::ceil(xr.hi);
  }
  // The axes span the ticks' range (the data lie inside it).
  const double x0 = std::min(xr.lo, xt.first), x1 = std::max(xr.hi, xt.last);
  const double y0 = yt.first, y1 = yt.last;
  auto sx = [&](double v) { return px + (v - x0) / (x1 - x0) * pw; };
  auto sy = [&](double v) { return py + ph - (v - y0) / (y1 - y0) * ph; };

  std::string s = fmt::format("<g class=\"panel\">\n");
  s += text(px + pw / 2, oy + 18, p.title, "middle", 14, "font-weight=\"bold\"");
  // grid lines and ticks
  for (double v : yt.values()) {
    s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#e0e0e0\"/>\n", num(px), num(sy(v)),
                     num(px + pw), num(sy(v)));
    s += text(px - 6, sy(v) + 4, p.log_y ? fmt::format("{:g}", std::pow(10.0, v)) : tick_label(v, yt.step), "end", 11,
              "class=\"ytick\"");
  }
  for (double v : xt.values()) {
    if (v < x0 - 1e-9 || v > x1 + 1e-9) continue;
    s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#e0e0e0\"/>\n", num(sx(v)), num(py),
                     num(sx(v)), num(py + ph));
    s += text(sx(v), py + ph + 16, tick_label(v, xt.step), "middle", 11, "class=\"xtick\"");
  }
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", num(px),
                   num(py), num(pw), num(ph));
  s += text(px + pw / 2, py + ph + 38, p.x_label, "middle", 12, "class=\"xlabel\"");
  s += text(ox + 16, py + ph / 2, p.y_label, "middle", 12,
            fmt::format("class=\"ylabel\" transform=\"rotate(-90 {} {})\"", num(ox + 16), num(py + ph / 2)));
  // lines: a non-finite value ends a segment
  std::size_t upper_right = 0, lower_right = 0;
  for (const auto& ser : p.series) {
    std::string pts;
    auto flush = [&] {
      if (pts.empty()) return;
      s += fmt::format("<polyline class=\"series\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{} points=\"{}\"/>\n",
                       ser.color, ser.dashed ? " stroke-dasharray=\"6 4\"" : "", pts);
      pts.clear();
    };
    const std::size_t n = std::min(ser.x.size(), ser.y.size());
    for (std::size_t i = 0; i < n; ++i) {
      const double yv = ty(ser.y[i]);
      if (!std::isfinite(yv) || !std::isfinite(ser.x[i])) {
        flush();
        continue;
      }
      if (!pts.empty()) pts += ' ';
      pts += num(sx(ser.x[i])) + "," + num(sy(yv));
      if (sx(ser.x[i]) > px + pw * 0.55) (sy(yv) < py + ph * 0.45 ? upper_right : lower_right) += 1;
    }
    // a single point would be invisible as a line: draw a dot
    if (pts.find(' ') == std::string::npos && !pts.empty()) {
      const auto comma = pts.find(',');
      s += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"/>\n", pts.substr(0, comma),
                       pts.substr(comma + 1), ser.color);
      pts.clear();
    }
    flush();
  }
  // legend in the emptier right-hand corner
  std::vector<const Series*> shown;
  for (const auto& ser : p.series)
    if (std::any_of(ser.y.begin(), ser.y.end(), [](double v) { return std::isfinite(v); })) shown.push_back(&ser);
  if (!shown.empty()) {
    std::size_t longest = 0;
    for (auto* ser : shown) longest = std::max(longest, ser->name.size());
    const double lw = 44 + 7.0 * static_cast<double>(longest), lh = 8 + 18.0 * static_cast<double>(shown.size());
    const double lx = px + pw - lw - 8;
    const double ly = upper_right <= lower_right ? py + 8 : py + ph - lh - 8;
    s += fmt::format("<g class=\"legend\">\n<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"white\" "
                     "fill-opacity=\"0.9\" stroke=\"#999\"/>\n",
                     num(lx), num(ly), num(lw), num(lh));
    for (std::size_t i = 0; i < shown.size(); ++i) {
      const double yy = ly + 15 + 18.0 * static_cast<double>(i);
      s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"{}/>\n",
                       num(lx + 8), num(yy - 4), num(lx + 34), num(yy - 4), shown[i]->color,
                       shown[i]->dashed ? " stroke-dasharray=\"6 4\"" : "");
      s += text(lx + 40, yy, shown[i]->name, "start", 11);
    }
    s += "</g>\n";
  }
  s += "</g>\n";
  return s;
}

}  // namespace

std::vector<double> Ticks::values() const {
  std::vector<double> v;
  if (!(step > 0)) return v;
  for (int i = 0;; ++i) {
    const double t = first + step * i;
    if (t > last + step * 1e-6 || i > 1000) break;
    v.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return v;
}

Ticks nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double d = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= d, hi += d;
  }
  const double raw = (hi - lo) / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  const double step = (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
  Ticks t;
  t.step = step;
  t.first = std::floor(lo / step + 1e-9) * step;
  t.last = std::ceil(hi / step - 1e-9) * step;
  return t;
}

std::string line_chart_svg(const std::vector<Panel>& panels, const std::string& title) {
  const double pw = 460, ph = 340, head = title.empty() ? 8 : 36;
  const double w = pw * static_cast<double>(std::max<std::size_t>(panels.size(), 1)) + 16, h = ph + head + 8;
  std::string s = svg_open(w, h);
  if (!title.empty()) s += text(w / 2, 24, title, "middle", 16, "class=\"title\" font-weight=\"bold\"");
  for (std::size_t i = 0; i < panels.size(); ++i)
    s += draw_panel(panels[i], 8 + pw * static_cast<double>(i), head, pw, ph);
  s += "</svg>\n";
  return s;
}

std::string history_svg(const History& h, const std::string& title) {
  const std::string train_color = "#1f77b4", val_color = "#d62728";
  Series tl{"training", {}, {}, train_color, false}, vl{"validation", {}, {}, val_color, true};
  Series tm = tl, vm = vl;
  for (const auto& e : h.epochs) {
    const double x = static_cast<double>(e.epoch);
    tl.x.push_back(x), tl.y.push_back(e.loss);
    vl.x.push_back(x), vl.y.push_back(e.val_loss);
    tm.x.push_back(x), tm.y.push_back(e.metric);
    vm.x.push_back(x), vm.y.push_back(e.val_metric);
  }
  const bool r2 = h.metric == "r2";
  Panel loss{"Loss", "epoch", "loss", {tl, vl}};
  loss.y_min = 0;
  Range lr;
  for (const auto& e : h.epochs) lr.add(e.loss), lr.add(e.val_loss);
  if (!lr.empty() && lr.lo > 0 && lr.hi / lr.lo > 100) {
    loss.log_y = true;
    loss.title = "Loss (log scale)";
  }
  Panel metric{r2 ? "R\u00b2" : "Accuracy", "epoch", r2 ? "R\u00b2" : "accuracy", {tm, vm}};
  metric.y_max = 1;
  return line_chart_svg({loss, metric}, title);
}

std::string heatmap_svg(const Heatmap& m) {
  const std::size_t nr = m.rows.size(), nc = m.cols.size();
  if (nr == 0 || nc == 0) throw ShapeError("heatmap_svg: the grid has no rows or no columns");
  if (m.values.size() != nr * nc)
    throw ShapeError(fmt::format("heatmap_svg: {} values for a {} x {} grid (expected {})", m.values.size(), nr, nc,
                                 nr * nc));
  std::size_t row_chars = 0;
  for (const auto& r : m.rows) row_chars = std::max(row_chars, r.size());
  const double cw = std::clamp(560.0 / static_cast<double>(nc), 64.0, 110.0);
  const double ch = std::clamp(400.0 / static_cast<double>(nr), 34.0, 70.0);
  const double left = 40 + 7.5 * static_cast<double>(row_chars) + 8, top = m.title.empty() ? 20 : 48;
  const double gw = cw * static_cast<double>(nc), gh = ch * static_cast<double>(nr);
  const double bar_x = left + gw + 24, bar_w = 18;
  const double w = bar_x + bar_w + 110, h = top + gh + 60;

  Range vr;
  for (double v : m.values) vr.add(v);
  double lo = vr.empty() ? 0 : vr.lo, hi = vr.empty() ? 1 : vr.hi;
  if (hi == lo) {
    const double d = std::max(std::abs(lo) * 0.05, 1e-6);
    lo -= d, hi += d;
  }
  auto t_of = [&](double v) { return (v - lo) / (hi - lo); };

  std::string s = svg_open(w, h);
  if (!m.title.empty()) s += text(left + gw / 2, 28, m.title, "middle", 16, "class=\"title\" font-weight=\"bold\"");
  s += "<g class=\"cells\">\n";
  for (std::size_t i = 0; i < nr; ++i) {
    for (std::size_t j = 0; j < nc; ++j) {
      const double v = m.values[i * nc + j];
      const double x = left + cw * static_cast<double>(j), y = top + ch * static_cast<double>(i);
      const bool ok = std::isfinite(v);
      const double t = ok ? t_of(v) : 0;
      s += fmt::format("<rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" "
                       "stroke=\"white\" stroke-width=\"1\"/>\n",
                       num(x), num(y), num(cw), num(ch), ok ? viridis(t) : std::string("#bbbbbb"));
      s += text(x + cw / 2, y + ch / 2 + 5, ok ? fmt::format("{:.{}f}", v, m.decimals) : "n/a", "middle", 13,
                fmt::format("class=\"value\" fill=\"{}\"", ok && t < 0.6 ? "white" : "black"));
    }
  }
  if (m.highlight >= 0 && static_cast<std::size_t>(m.highlight) < nr * nc) {
    const std::size_t i = static_cast<std::size_t>(m.highlight) / nc, j = static_cast<std::size_t>(m.highlight) % nc;
    s += fmt::format("<rect class=\"highlight\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
                     "stroke=\"#d62728\" stroke-width=\"3\"/>\n",
                     num(left + cw * static_cast<double>(j) + 1.5), num(top + ch * static_cast<double>(i) + 1.5),
                     num(cw - 3), num(ch - 3));
  }
  s += "</g>\n";
  for (std::size_t i = 0; i < nr; ++i)
    s += text(left - 8, top + ch * (static_cast<double>(i) + 0.5) + 4, m.rows[i], "end", 12, "class=\"rowtick\"");
  for (std::size_t j = 0; j < nc; ++j)
    s += text(left + cw * (static_cast<double>(j) + 0.5), top + gh + 18, m.cols[j], "middle", 12, "class=\"coltick\"");
  s += text(left + gw / 2, top + gh + 44, m.col_label, "middle", 13, "class=\"xlabel\"");
  s += text(16, top + gh / 2, m.row_label, "middle", 13,
            fmt::format("class=\"ylabel\" transform=\"rotate(-90 16 {})\"", num(top + gh / 2)));
  // colour bar: 32 bands, ticks at nice values
  s += "<g class=\"colorbar\">\n";
  const int bands = 32;
  for (int k = 0; k < bands; ++k) {
    const double y = top + gh - gh * (k + 1) / bands;
    s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n", num(bar_x), num(y),
                     num(bar_w), num(gh / bands + 0.5), viridis((k + 0.5) / bands));
  }
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", num(bar_x),
                   num(top), num(bar_w), num(gh));
  Ticks bt = nice_ticks(lo, hi, 5);
  for (int target = 8; target <= 20; target += 4) {  // at least two labelled ticks on the bar
    const auto v = bt.values();
    if (std::count_if(v.begin(), v.end(), [&](double t) { return t >= lo - 1e-12 && t <= hi + 1e-12; }) >= 2) break;
    bt = nice_ticks(lo, hi, target);
  }
  for (double v : bt.values()) {
    if (v < lo - 1e-12 || v > hi + 1e-12) continue;
    const double y = top + gh - t_of(v) * gh;
    s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/>\n", num(bar_x + bar_w), num(y),
                     num(bar_x + bar_w + 4), num(y));
    s += text(bar_x + bar_w + 7, y + 4, tick_label(v, bt.step), "start", 11, "class=\"bartick\"");
  }
  if (!m.value_label.empty())
    s += text(bar_x + bar_w + 62, top + gh / 2, m.value_label, "middle", 12,
              fmt::format("transform=\"rotate(90 {} {})\"", num(bar_x + bar_w + 62), num(top + gh / 2)));
  s += "</g>\n</svg>\n";
  return s;
}

void write_text_file(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw IoError(fmt::format("cannot create {} ({})", path, std::strerror(errno)));
  const bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size() && std::fflush(f) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw IoError(fmt::format("cannot write {} ({})", path, why));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw IoError(fmt::format("cannot replace {} ({})", path, why));
  }
}

}  // namespace ad::nn
