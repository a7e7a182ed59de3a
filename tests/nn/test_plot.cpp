// SVG writers (nn/plot.hpp): well-formed XML, the numbers and labels present, one cell per grid
// value, gaps for NaN, nice tick values.
#include <ad/nn/plot.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace ad::nn;

namespace {

/// Checks that every tag is closed in order (a small XML well-formedness check: elements nest,
/// attributes are quoted, no stray '<' or '&' in text). Returns "" or what is wrong.
std::string xml_problem(const std::string& s) {
  std::vector<std::string> stack;
  std::size_t i = 0;
  if (s.rfind("<?xml", 0) == 0) i = s.find("?>") + 2;
  bool root_seen = false;
  while (i < s.size()) {
    const std::size_t lt = s.find('<', i);
    const std::string text = s.substr(i, lt == std::string::npos ? std::string::npos : lt - i);
    for (std::size_t k = 0; k < text.size(); ++k)
      if (text[k] == '&') {
        const auto semi = text.find(';', k);
        const std::string ent = text.substr(k, semi == std::string::npos ? 0 : semi - k + 1);
        if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;") return "bad entity in text";
      }
    if (lt == std::string::npos) break;
    const std::size_t gt = s.find('>', lt);
    if (gt == std::string::npos) return "unterminated tag";
    std::string tag = s.substr(lt + 1, gt - lt - 1);
    if (tag.find('<') != std::string::npos) return "'<' inside a tag";
    // attribute values must be quoted: count quotes
    if (std::count(tag.begin(), tag.end(), '"') % 2 != 0) return "unbalanced quotes in <" + tag + ">";
    if (tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (stack.empty() || stack.back() != name) return "closing </" + name + "> does not match";
      stack.pop_back();
    } else if (tag.back() == '/') {
      if (stack.empty()) return "element outside the root";
    } else {
      const std::string name = tag.substr(0, tag.find_first_of(" \n\t"));
      if (stack.empty() && root_seen) return "two root elements";
      root_seen = true;
      stack.push_back(name);
    }
    i = gt + 1;
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  if (!root_seen) return "no root element";
  return "";
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

History make_history(std::size_t epochs, bool validation) {
  History h;
  for (std::size_t e = 1; e <= epochs; ++e) {
    EpochStats st;
    st.epoch = e;
    st.loss = 2.0 / static_cast<double>(e);
    st.metric = 1.0 - 0.5 / static_cast<double>(e);
    if (validation) {
      st.val_loss = 2.2 / static_cast<double>(e);
      st.val_metric = 0.98 - 0.5 / static_cast<double>(e);
    }
    h.epochs.push_back(st);
  }
  return h;
}

}  // namespace

TEST_CASE("plot: the XML checker itself rejects broken documents") {
  CHECK(xml_problem("<svg><g></g></svg>") == "");
  CHECK(xml_problem("<svg><g></svg>") != "");
  CHECK(xml_problem("<svg><text>a & b</text></svg>") != "");
  CHECK(xml_problem("<svg><rect x=\"1/></svg>") != "");
}

TEST_CASE("plot: nice ticks are 1, 2 or 5 times a power of ten and cover the range") {
  Ticks t = nice_ticks(0.0, 1.0, 5);
  CHECK(t.step == doctest::Approx(0.2));
  CHECK(t.first == doctest::Approx(0.0));
  CHECK(t.last == doctest::Approx(1.0));
  CHECK(t.values().size() == 6);
  t = nice_ticks(1, 100, 6);
  CHECK(t.step == doctest::Approx(20));
  CHECK(t.first <= 1);
  CHECK(t.last >= 100);
  t = nice_ticks(0.0123, 0.0871, 5);
  const double m = t.step / std::pow(10.0, std::floor(std::log10(t.step)));
  CHECK((std::abs(m - 1) < 1e-9 || std::abs(m - 2) < 1e-9 || std::abs(m - 5) < 1e-9));
  CHECK(t.first <= 0.0123);
  CHECK(t.last >= 0.0871);
  t = nice_ticks(3, 3, 5);  // a flat line still gets an axis
  CHECK(t.first < 3);
  CHECK(t.last > 3);
}

TEST_CASE("plot: history chart has two panels, axis labels, legend and one line per series") {
  const History h = make_history(20, true);
  const std::string svg = history_svg(h, "digits <64-50-10> & sgd");
  CHECK(xml_problem(svg) == "");
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
  CHECK(svg.find("digits &lt;64-50-10&gt; &amp; sgd") != std::string::npos);  // title escaped
  CHECK(count(svg, "class=\"panel\"") == 2);
  CHECK(count(svg, ">epoch</text>") == 2);
  CHECK(svg.find(">loss</text>") != std::string::npos);
  CHECK(svg.find(">accuracy</text>") != std::string::npos);
  CHECK(count(svg, ">training</text>") == 2);    // legend entries in both panels
  CHECK(count(svg, ">validation</text>") == 2);
  CHECK(count(svg, "class=\"series\"") == 4);     // loss/accuracy x training/validation
  CHECK(svg.find("stroke-dasharray") != std::string::npos);  // validation dashed
  // x ticks at round epochs, y ticks of the accuracy panel up to 1
  CHECK(svg.find(">20</text>") != std::string::npos);
  CHECK(svg.find(">1.0</text>") != std::string::npos);
  // every polyline has one point per epoch
  // (a plain search, not std::regex: g++ 12 draws false -Wmaybe-uninitialized warnings from
  // <regex> in the sanitizer build)
  const std::string key = "points=\"";
  std::size_t lines = 0;
  for (std::size_t at = svg.find(key); at != std::string::npos; at = svg.find(key, at + 1), ++lines) {
    const std::size_t begin = at + key.size(), end = svg.find('"', begin);
    REQUIRE(end != std::string::npos);
    CHECK(count(svg.substr(begin, end - begin), ",") == 20);
  }
  CHECK(lines == 4);  // loss and accuracy, training and validation
}

TEST_CASE("plot: history without validation has no validation line; NaN breaks a line") {
  const std::string svg = history_svg(make_history(5, false));
  CHECK(xml_problem(svg) == "");
  CHECK(svg.find(">validation</text>") == std::string::npos);
  CHECK(count(svg, "class=\"series\"") == 2);

  Panel p{"gap", "x", "y", {Series{"s", {1, 2, 3, 4, 5}, {1, 2, NAN, 4, 5}}}};
  const std::string g = line_chart_svg({p});
  CHECK(xml_problem(g) == "");
  CHECK(count(g, "class=\"series\"") == 2);  // two segments around the NaN

  History r = make_history(3, false);
  r.metric = "r2";
  CHECK(history_svg(r).find(">R\u00b2</text>") != std::string::npos);
}

TEST_CASE("plot: a loss spanning decades gets a logarithmic axis with decade ticks") {
  History h;
  for (std::size_t e = 1; e <= 50; ++e) {
    EpochStats st;
    st.epoch = e;
    st.loss = 100.0 * std::pow(10.0, -0.1 * static_cast<double>(e));  // 100 .. 1e-3
    st.metric = 0.5;
    h.epochs.push_back(st);
  }
  const std::string svg = history_svg(h);
  CHECK(xml_problem(svg) == "");
  CHECK(svg.find("Loss (log scale)") != std::string::npos);
  for (const char* t : {">0.001<", ">0.1<", ">10<", ">100<"}) CHECK_MESSAGE(svg.find(t) != std::string::npos, t);
  CHECK(history_svg(make_history(5, false)).find("log scale") == std::string::npos);
}

TEST_CASE("plot: heatmap has one cell and one value per grid point, labels and a colour bar") {
  Heatmap m;
  m.title = "validation accuracy";
  m.row_label = "lr";
  m.col_label = "l2";
  m.rows = {"0.01", "0.1", "1"};
  m.cols = {"0", "0.0001", "0.001"};
  m.values = {0.512, 0.8734, 0.9, 0.95, 0.9611, 0.958, 0.1, NAN, 0.97};
  m.value_label = "accuracy";
  const std::string svg = heatmap_svg(m);
  CHECK(xml_problem(svg) == "");
  CHECK(count(svg, "class=\"cell\"") == 9);
  CHECK(count(svg, "class=\"value\"") == 9);
  for (const char* v : {">0.512<", ">0.873<", ">0.900<", ">0.950<", ">0.961<", ">0.958<", ">0.100<", ">0.970<", ">n/a<"})
    CHECK_MESSAGE(svg.find(v) != std::string::npos, v);
  for (const char* l : {">0.01<", ">0.1<", ">1<", ">0<", ">0.0001<", ">0.001<", ">lr<", ">l2<", ">validation accuracy<"})
    CHECK_MESSAGE(svg.find(l) != std::string::npos, l);
  CHECK(svg.find("class=\"colorbar\"") != std::string::npos);
  CHECK(count(svg, "class=\"bartick\"") >= 2);
  // the best cell is the brightest (viridis yellow end), the worst the darkest
  CHECK(svg.find("fill=\"#fde725\"") != std::string::npos);
  CHECK(svg.find("fill=\"#440154\"") != std::string::npos);
  CHECK(svg.find("class=\"highlight\"") == std::string::npos);
  m.highlight = 8;
  CHECK(count(heatmap_svg(m), "class=\"highlight\"") == 1);

  m.decimals = 1;
  CHECK(heatmap_svg(m).find(">0.5<") != std::string::npos);
  m.values.pop_back();
  CHECK_THROWS_AS(heatmap_svg(m), ad::ShapeError);
  m.rows.clear();
  CHECK_THROWS_AS(heatmap_svg(m), ad::ShapeError);
}

TEST_CASE("plot: write_text_file writes and names the file when it cannot") {
  const std::string path = "test_plot_tmp.svg";
  write_text_file(path, "<svg/>\n");
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str() == "<svg/>\n");
  std::remove(path.c_str());
  try {
    write_text_file("/nonexistent-dir/x.svg", "x");
    FAIL("no exception");
  } catch (const ad::IoError& e) {
    CHECK(std::string(e.what()).find("/nonexistent-dir/x.svg") != std::string::npos);
  }
}
