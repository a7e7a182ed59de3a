// Tests of nn/src/data.cpp: shipped and installed data sets, CSV and IDX loaders with their
// bad-input catalogue, splitting, one-hot, scalers, minibatch gathering.
#include <ad/nn/data.hpp>
#include <ad/nn/random.hpp>

#include <doctest/doctest.h>

#include "support.hpp"
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xview.hpp>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using ad::nn::Dataset;
using namespace support;

namespace {

/// Writes `content` gzipped into dir.
std::string write_gz(const TempDir& dir, const std::string& name, const std::string& content) {
  const std::string p = dir.file(name);
  gzFile f = gzopen(p.c_str(), "wb");
  REQUIRE(f != nullptr);
  if (!content.empty()) REQUIRE(gzwrite(f, content.data(), unsigned(content.size())) == int(content.size()));
  gzclose(f);
  return p;
}





std::vector<std::size_t> counts(const std::vector<std::size_t>& labels, std::size_t k) {
  std::vector<std::size_t> c(k, 0);
  for (auto l : labels) ++c.at(l);
  return c;
}

/// An IDX header: magic 00 00 type ndims, then big-endian dimensions.
std::string idx_header(unsigned type, const std::vector<std::uint32_t>& dims) {
  std::string s = {0, 0, char(type), char(dims.size())};
  for (auto d : dims) {
    s += char(d >> 24);
    s += char(d >> 16);
    s += char(d >> 8);
    s += char(d);
  }
  return s;
}

std::string be_bytes(std::uint64_t v, int n) {
  std::string s;
  for (int i = n - 1; i >= 0; --i) s += char((v >> (8 * i)) & 0xff);
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Built-in data sets

TEST_CASE("data: digits is 1797 x 64 raw pixels 0..16 with the known rows and class counts") {
  const Dataset d = ad::nn::load_digits();
  REQUIRE(d.size() == 1797);
  REQUIRE(d.features() == 64);
  CHECK(d.x.shape()[1] == 64);
  CHECK(d.y.shape()[0] == 1797);
  CHECK(d.classes() == 10);
  CHECK(d.class_names.front() == "0");
  CHECK(d.class_names.back() == "9");
  CHECK(d.feature_names.size() == 64);
  CHECK(d.feature_names[9] == "pixel_1_1");
  const std::vector<std::size_t> want = {178, 182, 177, 183, 181, 182, 181, 179, 174, 180};
  CHECK(counts(d.labels(), 10) == want);
  // First row: a 0.
  const std::vector<double> row0 = {0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0};
  for (std::size_t j = 0; j < row0.size(); ++j) CHECK(d.x(0, j) == row0[j]);
  CHECK(d.y(0) == 0);
  CHECK(d.y(1) == 1);
  CHECK(d.x(1, 3) == 12);
  // Last row: an 8.
  CHECK(d.y(1796) == 8);
  CHECK(d.x(1796, 2) == 10);
  CHECK(d.x(1796, 62) == 1);
  CHECK(std::accumulate(d.x.begin(), d.x.end(), 0.0) == 561718.0);
  CHECK(*std::max_element(d.x.begin(), d.x.end()) == 16.0);
  CHECK(*std::min_element(d.x.begin(), d.x.end()) == 0.0);
}

TEST_CASE("data: breast cancer is 569 x 30 with 212 malignant (0) and 357 benign (1)") {
  const Dataset d = ad::nn::load_breast_cancer();
  REQUIRE(d.size() == 569);
  REQUIRE(d.features() == 30);
  CHECK(d.class_names == std::vector<std::string>{"malignant", "benign"});
  CHECK(d.classes() == 2);
  CHECK(counts(d.labels(), 2) == std::vector<std::size_t>{212, 357});
  CHECK(d.x(0, 0) == 17.99);
  CHECK(d.x(0, 1) == 10.38);
  CHECK(d.x(0, 3) == 1001.0);
  CHECK(d.x(0, 29) == 0.1189);
  CHECK(d.y(0) == 0);
  CHECK(d.x(1, 0) == 20.57);
  CHECK(d.feature_names.size() == 30);
  CHECK(d.feature_names[0] == "mean radius");
  CHECK(d.feature_names[29] == "worst fractal dimension");
}

TEST_CASE("data: iris is 150 x 4 with 50 of each class") {
  const Dataset d = ad::nn::load_iris();
  REQUIRE(d.size() == 150);
  REQUIRE(d.features() == 4);
  CHECK(d.class_names == std::vector<std::string>{"setosa", "versicolor", "virginica"});
  CHECK(counts(d.labels(), 3) == std::vector<std::size_t>{50, 50, 50});
  CHECK(d.x(0, 0) == 5.1);
  CHECK(d.x(0, 1) == 3.5);
  CHECK(d.x(0, 2) == 1.4);
  CHECK(d.x(0, 3) == 0.2);
  CHECK(d.x(149, 0) == 5.9);
  CHECK(d.x(149, 2) == 5.1);
  CHECK(d.y(149) == 2);
  CHECK(d.feature_names[2] == "petal length (cm)");
}

TEST_CASE("data: the gates are the four rows of their truth tables") {
  const Dataset x = ad::nn::load_gates("xor");
  REQUIRE(x.size() == 4);
  REQUIRE(x.features() == 2);
  const double rows[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(x.x(i, 0) == rows[i][0]);
    CHECK(x.x(i, 1) == rows[i][1]);
  }
  CHECK(x.labels() == std::vector<std::size_t>{0, 1, 1, 0});
  CHECK(ad::nn::load_gates("and").labels() == std::vector<std::size_t>{0, 0, 0, 1});
  CHECK(ad::nn::load_gates("or").labels() == std::vector<std::size_t>{0, 1, 1, 1});
  CHECK(ad::nn::load_gates("nand").labels() == std::vector<std::size_t>{1, 1, 1, 0});
  CHECK(x.classes() == 2);
  const auto msg = message_of<ad::ValueError>([] { ad::nn::load_gates("nope"); });
  CHECK(has(msg, "'nope'"));
  CHECK(has(msg, "xor, and, or"));
}

TEST_CASE("data: load_builtin finds every set by name and lists the names for an unknown one") {
  CHECK(ad::nn::load_builtin("digits").size() == 1797);
  CHECK(ad::nn::load_builtin("breast-cancer").size() == 569);
  CHECK(ad::nn::load_builtin("iris").size() == 150);
  CHECK(ad::nn::load_builtin("xor").labels() == std::vector<std::size_t>{0, 1, 1, 0});
  CHECK(ad::nn::load_builtin("and").size() == 4);
  CHECK(ad::nn::load_builtin("or").size() == 4);
  const auto msg = message_of<ad::ValueError>([] { ad::nn::load_builtin("mnist"); });
  CHECK(has(msg, "'mnist'"));
  for (const char* n : {"digits", "breast-cancer", "iris", "fashion-mnist", "xor", "and", "or"})
    CHECK(has(msg, n));
}

TEST_CASE("data: AD_DATA_DIR in the environment overrides the shipped folder") {
  TempDir dir("env");
  const std::string old = ad::nn::data_dir();
  ::setenv("AD_DATA_DIR", dir.path.c_str(), 1);
  CHECK(ad::nn::data_dir() == dir.path.string());
  const auto msg = message_of<ad::IoError>([] { ad::nn::load_iris(); });
  CHECK(has(msg, (dir.path / "iris.csv").string()));
  CHECK(has(msg, "AD_DATA_DIR"));
  // A copy in the overriding folder is read from there.
  fs::copy_file(fs::path(old) / "iris.csv", dir.path / "iris.csv");
  CHECK(ad::nn::load_iris().size() == 150);
  ::unsetenv("AD_DATA_DIR");
  CHECK(ad::nn::data_dir() == old);
}

TEST_CASE("data: Fashion-MNIST from the Debian package is 60000 / 10000 x 784, 6000 per class") {
  // Installed by .ci/install-deps: missing is a failure, not a skip.
  REQUIRE_MESSAGE(fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
                  "install the Debian package dataset-fashion-mnist (.ci/install-deps)");
  const Dataset tr = ad::nn::load_fashion_mnist(true);
  REQUIRE(tr.size() == 60000);
  REQUIRE(tr.features() == 784);
  CHECK(tr.classes() == 10);
  CHECK(tr.class_names[9] == "Ankle boot");
  CHECK(counts(tr.labels(), 10) == std::vector<std::size_t>(10, 6000));
  CHECK(*std::max_element(tr.x.begin(), tr.x.end()) == 255.0);
  CHECK(*std::min_element(tr.x.begin(), tr.x.end()) == 0.0);
  CHECK(tr.y(0) == 9);  // the first training image is an ankle boot
  CHECK(std::all_of(tr.x.begin(), tr.x.end(), [](double v) { return v == std::floor(v); }));
  const Dataset te = ad::nn::load_fashion_mnist(false);
  CHECK(te.size() == 10000);
  CHECK(te.features() == 784);
  CHECK(counts(te.labels(), 10) == std::vector<std::size_t>(10, 1000));
  CHECK(te.y(0) == 9);

  TempDir dir("fashion");
  ::setenv("AD_FASHION_MNIST_DIR", dir.path.c_str(), 1);
  const auto msg = message_of<ad::IoError>([] { ad::nn::load_fashion_mnist(false); });
  ::unsetenv("AD_FASHION_MNIST_DIR");
  CHECK(has(msg, (dir.path / "t10k-images-idx3-ubyte.gz").string()));
  CHECK(has(msg, "dataset-fashion-mnist"));
}

// ---------------------------------------------------------------------------------------------
// CSV

TEST_CASE("data: load_csv reads headers, label columns, delimiters, quotes, CRLF and gzip") {
  TempDir dir("csv");
  SUBCASE("named header: feature names without the label's") {
    const auto p = dir.write("named.csv", "a,b,target\n1,2,0\n3,4.5,1\n\n-5,6e2,1\n");
    const Dataset d = ad::nn::load_csv(p);
    REQUIRE(d.size() == 3);
    REQUIRE(d.features() == 2);
    CHECK(d.feature_names == std::vector<std::string>{"a", "b"});
    CHECK(d.class_names.empty());
    CHECK(d.x(1, 1) == 4.5);
    CHECK(d.x(2, 0) == -5);
    CHECK(d.x(2, 1) == 600);
    CHECK(d.labels() == std::vector<std::size_t>{0, 1, 1});
    CHECK(d.classes() == 2);
  }
  SUBCASE("no header, label first, semicolons, quotes, spaces and CRLF") {
    const auto p = dir.write("semi.csv", "2; 1.5 ;\"3\"\r\n0;+2;-1\r\n");
    const Dataset d = ad::nn::load_csv(p, {0, ';', -1});
    REQUIRE(d.size() == 2);
    REQUIRE(d.features() == 2);
    CHECK(d.y(0) == 2);
    CHECK(d.y(1) == 0);
    CHECK(d.x(0, 0) == 1.5);
    CHECK(d.x(0, 1) == 3);
    CHECK(d.x(1, 0) == 2);
    CHECK(d.x(1, 1) == -1);
  }
  SUBCASE("no label column") {
    const auto p = dir.write("nolabel.csv", "1,2,3\n4,5,6\n");
    const Dataset d = ad::nn::load_csv(p, {-2});
    CHECK(d.features() == 3);
    CHECK(d.size() == 2);
    CHECK(d.y.size() == 0);
    CHECK(d.x(1, 2) == 6);
    CHECK(d.subset({1}).x(0, 0) == 4);
  }
  SUBCASE("scikit-learn header: counts checked, class names taken") {
    const auto p = dir.write("sk.csv", "3,2,no,yes\n1,2,0\n3,4,1\n5,6,1\n");
    const Dataset d = ad::nn::load_csv(p);
    CHECK(d.class_names == std::vector<std::string>{"no", "yes"});
    CHECK(d.size() == 3);
    CHECK(d.features() == 2);
    const auto bad = dir.write("sk_rows.csv", "4,2,no,yes\n1,2,0\n3,4,1\n5,6,1\n");
    const auto m1 = message_of<ad::ShapeError>([&] { ad::nn::load_csv(bad); });
    CHECK(has(m1, bad));
    CHECK(has(m1, "4 rows"));
    const auto lab = dir.write("sk_label.csv", "2,2,no,yes\n1,2,0\n3,4,2\n");
    const auto m2 = message_of<ad::ValueError>([&] { ad::nn::load_csv(lab); });
    CHECK(has(m2, lab + ":3:3"));
    // Without class names: "2,2" followed by 3-column rows.
    const auto bare = dir.write("sk_bare.csv", "2,2\n1,2,0\n3,4,1\n");
    const Dataset b = ad::nn::load_csv(bare);
    CHECK(b.size() == 2);
    CHECK(b.class_names.empty());
  }
  SUBCASE("gzip is read like plain text and gives the same data") {
    const std::string text = "x,y,label\n0.25,1,0\n2,3,1\n";
    const Dataset a = ad::nn::load_csv(dir.write("p.csv", text));
    const Dataset b = ad::nn::load_csv(write_gz(dir, "p.csv.gz", text));
    CHECK(a.x == b.x);
    CHECK(a.y == b.y);
    CHECK(b.feature_names == std::vector<std::string>{"x", "y"});
  }
  SUBCASE("header = 0 forces the first row to be data") {
    const auto p = dir.write("forced.csv", "a,b,c\n1,2,3\n");
    const auto msg = message_of<ad::ParseError>([&] { ad::nn::load_csv(p, {-1, ',', 0}); });
    CHECK(has(msg, p + ":1:1"));
  }
}

TEST_CASE("data: load_csv bad-input catalogue names file, line and column") {
  TempDir dir("badcsv");
  const std::string missing = (dir.path / "missing.csv").string();
  auto m = message_of<ad::IoError>([&] { ad::nn::load_csv(missing); });
  CHECK(has(m, missing));
  CHECK(has(m, "no such file"));

  const auto empty = dir.write("empty.csv", "");
  m = message_of<ad::IoError>([&] { ad::nn::load_csv(empty); });
  CHECK(has(m, empty));
  CHECK(has(m, "empty"));

  const auto blank = dir.write("blank.csv", "\n  \n\n");
  m = message_of<ad::IoError>([&] { ad::nn::load_csv(blank); });
  CHECK(has(m, blank));

  const auto header_only = dir.write("header_only.csv", "a,b,c\n");
  m = message_of<ad::IoError>([&] { ad::nn::load_csv(header_only); });
  CHECK(has(m, "no data rows"));

  const auto text = dir.write("text.csv", "a,b,y\n1,2,0\n3,abc,1\n");
  m = message_of<ad::ParseError>([&] { ad::nn::load_csv(text); });
  CHECK(has(m, text + ":3:2"));
  CHECK(has(m, "'abc'"));

  const auto empty_cell = dir.write("empty_cell.csv", "1,2,0\n3,,1\n");
  m = message_of<ad::ParseError>([&] { ad::nn::load_csv(empty_cell); });
  CHECK(has(m, empty_cell + ":2:2"));
  CHECK(has(m, "empty cell"));

  const auto ragged = dir.write("ragged.csv", "1,2,0\n3,4,1\n\n5,6\n");
  m = message_of<ad::ShapeError>([&] { ad::nn::load_csv(ragged); });
  CHECK(has(m, ragged + ":4:"));
  CHECK(has(m, "expected 3 columns"));
  CHECK(has(m, "found 2"));

  const auto nan = dir.write("nan.csv", "1,2,0\n3,4,1\n5,nan,0\n");
  m = message_of<ad::ValueError>([&] { ad::nn::load_csv(nan); });
  CHECK(has(m, nan + ":3:2"));
  CHECK(has(m, "NaN"));

  const auto inf = dir.write("inf.csv", "1,2,0\n-inf,4,1\n");
  m = message_of<ad::ValueError>([&] { ad::nn::load_csv(inf); });
  CHECK(has(m, inf + ":2:1"));
  CHECK(has(m, "Inf"));

  const auto huge = dir.write("huge.csv", "1,2,0\n1e999,4,1\n");
  m = message_of<ad::ValueError>([&] { ad::nn::load_csv(huge); });
  CHECK(has(m, huge + ":2:1"));

  const auto header_width = dir.write("header_width.csv", "a,b\n1,2,3\n");
  m = message_of<ad::ShapeError>([&] { ad::nn::load_csv(header_width); });
  CHECK(has(m, header_width + ":1"));

  const auto ok = dir.write("ok.csv", "1,2,0\n");
  m = message_of<ad::ShapeError>([&] { ad::nn::load_csv(ok, {5}); });
  CHECK(has(m, "label_column 5"));
  message_of<ad::ValueError>([&] { ad::nn::load_csv(ok, {-3}); });
  message_of<ad::ValueError>([&] { ad::nn::load_csv(ok, {-1, ',', 2}); });

  // A gzip file cut short: the shipped digits, truncated to half.
  const std::string gz = read_bytes(ad::nn::data_dir() + "/digits.csv.gz");
  REQUIRE_MESSAGE(gz.size() > 400, "the shipped digits.csv.gz is missing from " << ad::nn::data_dir());
  const auto cut = dir.write("cut.csv.gz", gz.substr(0, gz.size() / 2));
  m = message_of<ad::IoError>([&] { ad::nn::load_csv(cut); });
  CHECK(has(m, cut));
  CHECK(has(m, "truncated"));
  // A gzip file whose compressed bytes are damaged.
  std::string damaged = gz;
  for (std::size_t i = 100; i < 400; ++i) damaged[i] = char(damaged[i] ^ 0x5a);
  const auto bad = dir.write("damaged.csv.gz", damaged);
  m = message_of<ad::IoError>([&] { ad::nn::load_csv(bad); });
  CHECK(has(m, bad));

  const auto dir_path = dir.path.string();
  m = message_of<ad::IoError>([&] { ad::nn::load_csv(dir_path); });
  CHECK(has(m, "directory"));
}

// ---------------------------------------------------------------------------------------------
// IDX

TEST_CASE("data: load_idx reads MNIST-style pairs, plain and gzipped") {
  TempDir dir("idx");
  std::string images = idx_header(0x08, {3, 2, 2});
  for (int i = 0; i < 12; ++i) images += char(i * 20);  // 0, 20, ..., 220
  std::string labels = idx_header(0x08, {3}) + std::string{7, 0, 9};
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    const auto ip = gz ? write_gz(dir, "img.gz", images) : dir.write("img", images);
    const auto lp = gz ? write_gz(dir, "lab.gz", labels) : dir.write("lab", labels);
    const Dataset d = ad::nn::load_idx(ip, lp);
    REQUIRE(d.x.dimension() == 2);
    REQUIRE(d.size() == 3);
    REQUIRE(d.features() == 4);
    CHECK(d.x(0, 0) == 0);
    CHECK(d.x(0, 3) == 60);
    CHECK(d.x(2, 3) == 220);
    CHECK(d.labels() == std::vector<std::size_t>{7, 0, 9});
    CHECK(d.classes() == 10);
  }
}

TEST_CASE("data: load_idx_array decodes every IDX element type with the header's shape") {
  TempDir dir("idxtypes");
  SUBCASE("signed byte") {
    const auto a = ad::nn::load_idx_array(dir.write("sb", idx_header(0x09, {3}) + std::string{char(-5), 0, 127}));
    CHECK(a == xt::xarray<double>{-5, 0, 127});
  }
  SUBCASE("short, 2 x 2") {
    const auto a = ad::nn::load_idx_array(dir.write(
        "s", idx_header(0x0B, {2, 2}) + be_bytes(1, 2) + be_bytes(0xFFFF, 2) + be_bytes(300, 2) +
                 be_bytes(0x8000, 2)));
    CHECK(a == xt::xarray<double>{{1, -1}, {300, -32768}});
  }
  SUBCASE("int, 1 x 2 x 1") {
    const auto a = ad::nn::load_idx_array(
        write_gz(dir, "i.gz", idx_header(0x0C, {1, 2, 1}) + be_bytes(70000, 4) + be_bytes(0xFFFFFFFEu, 4)));
    REQUIRE(a.dimension() == 3);
    CHECK(a(0, 0, 0) == 70000);
    CHECK(a(0, 1, 0) == -2);
  }
  SUBCASE("float and double") {
    const auto f = ad::nn::load_idx_array(
        dir.write("f", idx_header(0x0D, {2}) + be_bytes(0x3FC00000u, 4) + be_bytes(0xC0200000u, 4)));
    CHECK(f == xt::xarray<double>{1.5, -2.5});
    const auto d = ad::nn::load_idx_array(
        dir.write("d", idx_header(0x0E, {1}) + be_bytes(0x3FB999999999999AULL, 8)));
    CHECK(d(0) == 0.1);
  }
  SUBCASE("as float: the same values (rounded), the same shape and the same checks") {
    const auto a = ad::nn::load_idx_array_float(
        write_gz(dir, "u.gz", idx_header(0x08, {2, 2}) + std::string{0, 17, char(200), char(255)}));
    CHECK(a == xt::xarray<float>{{0, 17}, {200, 255}});
    const auto d = ad::nn::load_idx_array_float(
        dir.write("d", idx_header(0x0E, {1}) + be_bytes(0x3FB999999999999AULL, 8)));
    CHECK(d(0) == 0.1f);
    CHECK(has(message_of<ad::IoError>([&] { ad::nn::load_idx_array_float(dir.write("t", idx_header(0x08, {4}) + "ab")); }),
              "truncated"));
  }
  SUBCASE("an empty first dimension") {
    const auto a = ad::nn::load_idx_array(dir.write("e", idx_header(0x08, {0, 28, 28})));
    CHECK(a.shape()[0] == 0);
    CHECK(a.shape()[1] == 28);
  }
}

TEST_CASE("data: load_idx bad-input catalogue refuses corrupt headers before allocating") {
  TempDir dir("badidx");
  const std::string labels = idx_header(0x08, {2}) + std::string{1, 2};
  const auto lp = dir.write("labels", labels);

  const std::string missing = (dir.path / "none.gz").string();
  auto m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(missing); });
  CHECK(has(m, missing));
  CHECK(has(m, "no such file"));

  const auto empty = dir.write("empty", "");
  m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(empty); });
  CHECK(has(m, "empty"));
  const auto empty_gz = write_gz(dir, "empty.gz", "");
  m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(empty_gz); });
  CHECK(has(m, empty_gz));

  const auto csv = dir.write("not_idx", "1,2,3\n4,5,6\n");
  m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(csv); });
  CHECK(has(m, csv));
  CHECK(has(m, "not an IDX file"));
  const auto bad_type = dir.write("bad_type", idx_header(0x0A, {1}) + "x");
  m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(bad_type); });
  CHECK(has(m, "not an IDX file"));

  const auto short_magic = dir.write("short_magic", std::string{0, 0});
  m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(short_magic); });
  CHECK(has(m, "truncated"));

  const auto short_header = dir.write("short_header", idx_header(0x08, {3, 2, 2}).substr(0, 9));
  m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(short_header); });
  CHECK(has(m, "truncated in the header"));

  const auto short_data = dir.write("short_data", idx_header(0x08, {3, 2, 2}) + std::string(11, 'a'));
  m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(short_data); });
  CHECK(has(m, short_data));
  CHECK(has(m, "truncated"));
  CHECK(has(m, "3 x 2 x 2"));

  const auto short_gz = write_gz(dir, "short_data.gz", idx_header(0x08, {3, 2, 2}) + std::string(11, 'a'));
  m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(short_gz); });
  CHECK(has(m, "truncated"));

  // A cut gzip stream (the real data cut off mid-stream).
  std::string big = idx_header(0x08, {100, 28, 28});
  ad::nn::Rng rng(1);
  for (int i = 0; i < 100 * 784; ++i) big += char(rng.below(256));
  const std::string gz = read_bytes(write_gz(dir, "big.gz", big));
  const auto cut = dir.write("cut.gz", gz.substr(0, gz.size() / 2));
  m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(cut); });
  CHECK(has(m, cut));
  CHECK(has(m, "truncated"));

  const auto trailing = dir.write("trailing", idx_header(0x08, {2}) + std::string{1, 2, 3});
  m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(trailing); });
  CHECK(has(m, "more data than the header"));

  // Absurd dimensions: ~10^19 elements, or 4 * 10^9 bytes in a tiny file. Both must fail at
  // once (an attempt to allocate them would throw std::bad_alloc or crash).
  const auto absurd = dir.write("absurd", idx_header(0x0E, {0xFFFFFFFFu, 0xFFFFFFFFu}) + "abc");
  m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(absurd); });
  CHECK(has(m, "absurd"));
  const auto absurd_gz = write_gz(dir, "absurd.gz", idx_header(0x08, {60000, 256, 256}) + "abc");
  m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(absurd_gz); });
  CHECK(has(m, absurd_gz));
  CHECK(has(m, "60000 x 256 x 256"));
  const auto large_plain = dir.write("large", idx_header(0x0C, {1000000000}) + "abcd");
  m = message_of<ad::IoError>([&] { ad::nn::load_idx_array(large_plain); });
  CHECK(has(m, "truncated"));

  // Images and labels that do not pair up.
  const auto three = dir.write("three", idx_header(0x08, {3, 1, 1}) + std::string{1, 2, 3});
  m = message_of<ad::ValueError>([&] { ad::nn::load_idx(three, lp); });
  CHECK(has(m, three));
  CHECK(has(m, lp));
  CHECK(has(m, "3 images"));
  CHECK(has(m, "2 labels"));
  const auto two_d = dir.write("labels2d", idx_header(0x08, {3, 1}) + std::string{1, 2, 3});
  m = message_of<ad::ShapeError>([&] { ad::nn::load_idx(three, two_d); });
  CHECK(has(m, "one-dimensional"));

  const auto nan = dir.write("nan", idx_header(0x0D, {1}) + be_bytes(0x7FC00000u, 4));
  m = message_of<ad::ValueError>([&] { ad::nn::load_idx_array(nan); });
  CHECK(has(m, nan));
}

// ---------------------------------------------------------------------------------------------
// Dataset, split, one-hot

TEST_CASE("data: Dataset labels, classes and subset") {
  Dataset d;
  d.x = xt::xarray<double>{{1, 2}, {3, 4}, {5, 6}};
  d.y = xt::xarray<double>{0, 4, 2};
  CHECK(d.classes() == 5);
  const Dataset s = d.subset({2, 0, 2});
  CHECK(s.x == xt::xarray<double>{{5, 6}, {1, 2}, {5, 6}});
  CHECK(s.y == xt::xarray<double>{2, 0, 2});
  const auto m = message_of<ad::ShapeError>([&] { d.subset({3}); });
  CHECK(has(m, "row 3"));
  d.y = xt::xarray<double>{0, 1.5, 2};
  CHECK(has(message_of<ad::ValueError>([&] { d.labels(); }), "y[1] = 1.5"));
  d.y = xt::xarray<double>{0, -1, 2};
  message_of<ad::ValueError>([&] { d.labels(); });
  d.y = xt::xarray<double>{{0.5, 1}, {1, 2}, {3, 4}};  // regression targets (n, 2)
  CHECK(d.subset({1}).y == xt::xarray<double>{{1, 2}});
  message_of<ad::ValueError>([&] { d.labels(); });
  CHECK(Dataset{}.size() == 0);
}

TEST_CASE("data: train_test_split puts ceil(n f) shuffled rows in test, seeded") {
  const Dataset d = ad::nn::load_digits();
  const auto s = ad::nn::train_test_split(d, 0.2, 42);
  CHECK(s.train.size() == 1437);
  CHECK(s.test.size() == 360);
  CHECK(s.train.features() == 64);
  CHECK(s.test.class_names == d.class_names);
  // The rows are those of Rng(42).permutation, train first.
  const auto perm = ad::nn::Rng(42).permutation(1797);
  for (std::size_t i : {std::size_t(0), std::size_t(700), std::size_t(1436)})
    CHECK(xt::view(s.train.x, i) == xt::view(d.x, perm[i]));
  CHECK(s.test.y(0) == d.y(perm[1437]));
  CHECK(s.test.y(359) == d.y(perm[1796]));
  // Same seed, same split; another seed, another split.
  CHECK(ad::nn::train_test_split(d, 0.2, 42).test.x == s.test.x);
  CHECK(ad::nn::train_test_split(d, 0.2, 43).test.x != s.test.x);
  // Every row lands in exactly one part: the pixel sums add up.
  const double total = std::accumulate(d.x.begin(), d.x.end(), 0.0);
  CHECK(std::accumulate(s.train.x.begin(), s.train.x.end(), 0.0) +
            std::accumulate(s.test.x.begin(), s.test.x.end(), 0.0) ==
        total);

  Dataset ten;
  ten.x = xt::arange<double>(10).reshape({10, 1});
  ten.y = xt::arange<double>(10);
  CHECK(ad::nn::train_test_split(ten, 0.25, 1).test.size() == 3);  // ceil(2.5)
  CHECK(ad::nn::train_test_split(ten, 0.7, 1).test.size() == 7);   // 0.7 * 10 is 7.000000000000001
  CHECK(ad::nn::train_test_split(ten, 0.01, 1).test.size() == 1);
  const auto parts = ad::nn::train_test_split(ten, 0.3, 5);
  std::set<double> seen(parts.train.y.begin(), parts.train.y.end());
  seen.insert(parts.test.y.begin(), parts.test.y.end());
  CHECK(seen.size() == 10);
  for (double f : {0.0, 1.0, -0.1, 1.5, std::nan("")})
    CHECK(has(message_of<ad::ValueError>([&] { ad::nn::train_test_split(ten, f, 1); }), "test_fraction"));
  message_of<ad::ValueError>([&] { ad::nn::train_test_split(ten, 0.99, 1); });  // empty train
}

TEST_CASE("data: stratified split keeps every class's share within one row") {
  for (const char* name : {"digits", "breast-cancer", "iris"}) {
    CAPTURE(name);
    const Dataset d = ad::nn::load_builtin(name);
    const std::size_t k = d.classes(), n = d.size();
    const auto all = counts(d.labels(), k);
    for (double f : {0.2, 0.25, 0.5}) {
      CAPTURE(f);
      const auto s = ad::nn::train_test_split(d, f, 7, true);
      const std::size_t n_test = static_cast<std::size_t>(std::ceil(n * f - 1e-9));
      REQUIRE(s.test.size() == n_test);
      REQUIRE(s.train.size() == n - n_test);
      const auto te = counts(s.test.labels(), k), tr = counts(s.train.labels(), k);
      for (std::size_t c = 0; c < k; ++c) {
        const double want = double(all[c]) * double(n_test) / double(n);
        CHECK(std::abs(double(te[c]) - want) < 1.0);
        CHECK(te[c] + tr[c] == all[c]);
      }
    }
  }
  Dataset reg;
  reg.x = column({1, 2, 3, 4});
  reg.y = xt::xarray<double>{0.5, 1, 2, 3};
  message_of<ad::ValueError>([&] { ad::nn::train_test_split(reg, 0.5, 1, true); });
  CHECK(ad::nn::train_test_split(reg, 0.5, 1, false).test.size() == 2);
}

TEST_CASE("data: one_hot") {
  const auto h = ad::nn::one_hot({2, 0, 1, 2}, 3);
  CHECK(h == xt::xarray<double>{{0, 0, 1}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}});
  CHECK(ad::nn::one_hot({}, 4).shape()[1] == 4);
  const auto m = message_of<ad::ValueError>([] { ad::nn::one_hot({0, 3}, 3); });
  CHECK(has(m, "label 3 at row 1"));
}

// ---------------------------------------------------------------------------------------------
// Scalers

TEST_CASE("data: StandardScaler uses the population deviation and scale 1 for constant columns") {
  ad::nn::StandardScaler s;
  const xt::xarray<double> x = {{1, 10, -2}, {3, 10, 0}, {5, 10, 2}, {7, 10, 4}};
  const auto z = s.fit_transform(x);
  CHECK(s.mean == xt::xarray<double>{4, 10, 1});
  CHECK(s.scale(0) == doctest::Approx(std::sqrt(5.0)));  // (9 + 1 + 1 + 9) / 4
  CHECK(s.scale(1) == 1.0);
  CHECK(s.scale(2) == doctest::Approx(std::sqrt(5.0)));
  CHECK(z(0, 0) == doctest::Approx(-3 / std::sqrt(5.0)));
  CHECK(z(3, 2) == doctest::Approx(3 / std::sqrt(5.0)));
  CHECK(z(2, 1) == 0.0);
  const auto back = s.inverse_transform(z);
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(back.data()[i] == doctest::Approx(x.data()[i]));
  // A constant column with rounding noise counts as constant.
  ad::nn::StandardScaler c;
  c.fit(column({0.1 + 0.2, 0.3, 0.3}));
  CHECK(c.scale(0) == 1.0);

  CHECK(has(message_of<ad::ValueError>([] { ad::nn::StandardScaler{}.transform(column({1.0})); }), "fit"));
  const auto m = message_of<ad::ShapeError>([&] { s.transform(xt::xarray<double>{{1, 2}}); });
  CHECK(has(m, "(1, 2)"));
  CHECK(has(m, "(3,)"));
  message_of<ad::ValueError>([] { ad::nn::StandardScaler{}.fit(xt::xarray<double>::from_shape({0, 3})); });
  message_of<ad::ValueError>([] { ad::nn::StandardScaler{}.fit(column({1.0, std::nan("")})); });
}

TEST_CASE("data: scalers fitted on the training part only") {
  const auto s = ad::nn::train_test_split(ad::nn::load_breast_cancer(), 0.25, 3, true);
  ad::nn::StandardScaler std_s;
  const auto tr = std_s.fit_transform(s.train.x);
  const auto te = std_s.transform(s.test.x);
  // The train part is standardized exactly; the test part only approximately.
  double train_mean = 0, test_mean = 0, train_var = 0;
  for (std::size_t i = 0; i < tr.shape()[0]; ++i) {
    train_mean += tr(i, 0);
    train_var += tr(i, 0) * tr(i, 0);
  }
  for (std::size_t i = 0; i < te.shape()[0]; ++i) test_mean += te(i, 0);
  train_mean /= double(tr.shape()[0]);
  train_var /= double(tr.shape()[0]);
  test_mean /= double(te.shape()[0]);
  CHECK(std::abs(train_mean) < 1e-12);
  CHECK(train_var == doctest::Approx(1.0));
  CHECK(std::abs(test_mean) > 1e-6);
  CHECK(std::abs(test_mean) < 0.5);
  double raw_train_mean = 0;
  for (std::size_t i = 0; i < s.train.size(); ++i) raw_train_mean += s.train.x(i, 0);
  CHECK(std_s.mean(0) == doctest::Approx(raw_train_mean / double(s.train.size())));

  ad::nn::MinMaxScaler mm;
  const auto a = mm.fit_transform(s.train.x);
  CHECK(*std::min_element(a.begin(), a.end()) == 0.0);
  CHECK(*std::max_element(a.begin(), a.end()) == 1.0);
  const auto b = mm.transform(s.test.x);
  CHECK(b.shape()[1] == 30);
}

TEST_CASE("data: MinMaxScaler maps the training range to [0, 1]") {
  ad::nn::MinMaxScaler s;
  const auto z = s.fit_transform(xt::xarray<double>{{0, 5, -1}, {10, 5, 1}, {5, 5, 0}});
  CHECK(s.min == xt::xarray<double>{0, 5, -1});
  CHECK(s.range == xt::xarray<double>{10, 1, 2});
  CHECK(z == xt::xarray<double>{{0, 0, 0}, {1, 0, 1}, {0.5, 0, 0.5}});
  CHECK(s.transform(xt::xarray<double>{{20, 6, -3}}) == xt::xarray<double>{{2, 1, -1}});
  CHECK(s.inverse_transform(z) == xt::xarray<double>{{0, 5, -1}, {10, 5, 1}, {5, 5, 0}});
  // (n,) targets work too.
  ad::nn::MinMaxScaler t;
  CHECK(t.fit_transform(xt::xarray<double>{2, 4, 6}) == xt::xarray<double>{0, 0.5, 1});
  CHECK(t.min.shape()[0] == 1);
  CHECK(t.inverse_transform(xt::xarray<double>{0.25}) == xt::xarray<double>{3});
  ad::nn::StandardScaler u;
  CHECK(u.fit_transform(xt::xarray<double>{1, 3}) == xt::xarray<double>{-1, 1});
  message_of<ad::ValueError>([] { ad::nn::MinMaxScaler{}.transform(column({1.0})); });
  message_of<ad::ShapeError>([&] { s.transform(xt::xarray<double>{{1, 2}}); });
}

TEST_CASE("data: MaxScaler divides every column by the largest absolute training value") {
  ad::nn::MaxScaler s;
  // The largest |value| is 20, a negative entry; one divisor for all columns, not one per column.
  const auto z = s.fit_transform(xt::xarray<double>{{0, 16, -20}, {8, 2, 1}});
  CHECK(s.divisor == 20.0);
  CHECK(z == xt::xarray<double>{{0, 0.8, -1}, {0.4, 0.1, 0.05}});
  CHECK(s.transform(xt::xarray<double>{{40, -10, 0}}) == xt::xarray<double>{{2, -0.5, 0}});  // test rows may leave [-1, 1]
  CHECK(s.inverse_transform(xt::xarray<double>{{0.5, -0.25}}) == xt::xarray<double>{{10, -5}});
  // The digits' pixels are 0..16: the divisor is 16, as the examples divide by hand.
  ad::nn::MaxScaler d;
  d.fit(ad::nn::load_digits().x);
  CHECK(d.divisor == 16.0);
  // All-zero training data: divisor 1, values unchanged.
  ad::nn::MaxScaler zero;
  zero.fit(xt::xarray<double>{{0, 0}, {0, 0}});
  CHECK(zero.divisor == 1.0);
  CHECK(has(message_of<ad::ValueError>([] { ad::nn::MaxScaler{}.transform(column({1.0})); }), "fit"));
  message_of<ad::ValueError>([] { ad::nn::MaxScaler{}.fit(xt::xarray<double>::from_shape({0, 3})); });
  message_of<ad::ValueError>([] { ad::nn::MaxScaler{}.fit(column({1.0, std::nan("")})); });
  message_of<ad::ShapeError>([&] { s.transform(xt::xarray<double>(2.0)); });
}

TEST_CASE("data: transform_in_place gives transform's numbers bit for bit, over the data itself") {
  const auto split = ad::nn::train_test_split(ad::nn::load_breast_cancer(), 0.25, 3, true);
  ad::nn::StandardScaler st;
  ad::nn::MinMaxScaler mm;
  ad::nn::MaxScaler mx;
  st.fit(split.train.x);
  mm.fit(split.train.x);
  mx.fit(split.train.x);
  auto same_in_place = [&](const auto& scaler) {
    xt::xarray<double> x = split.test.x;
    const double* before = x.data();
    scaler.transform_in_place(x);
    return x.data() == before && x == scaler.transform(split.test.x);
  };
  CHECK(same_in_place(st));
  CHECK(same_in_place(mm));
  CHECK(same_in_place(mx));
  xt::xarray<double> wrong{{1, 2}};
  message_of<ad::ShapeError>([&] { st.transform_in_place(wrong); });
  message_of<ad::ShapeError>([&] { mm.transform_in_place(wrong); });
  message_of<ad::ValueError>([&] { ad::nn::StandardScaler{}.transform_in_place(wrong); });
  message_of<ad::ValueError>([&] { ad::nn::MinMaxScaler{}.transform_in_place(wrong); });
  message_of<ad::ValueError>([&] { ad::nn::MaxScaler{}.transform_in_place(wrong); });
}

// ---------------------------------------------------------------------------------------------
// Minibatches

TEST_CASE("data: gather_rows fills batches without reallocating") {
  const xt::xarray<double> x = {{0, 1}, {10, 11}, {20, 21}, {30, 31}, {40, 41}};
  const std::vector<std::size_t> idx = {4, 2, 0, 1, 3};
  xt::xarray<float> out;
  ad::nn::gather_rows(x, idx, 0, 2, out);
  CHECK(out == xt::xarray<float>{{40, 41}, {20, 21}});
  const float* buffer = out.data();
  ad::nn::gather_rows(x, idx, 2, 4, out);
  CHECK(out == xt::xarray<float>{{0, 1}, {10, 11}});
  CHECK(out.data() == buffer);  // same shape: the same storage
  ad::nn::gather_rows(x, idx, 4, 5, out);
  CHECK(out == xt::xarray<float>{{30, 31}});
  xt::xarray<double> d;
  ad::nn::gather_rows(xt::xarray<double>{1.5, 2.5, 3.5}, {2, 0}, 0, 2, d);  // (n,) targets
  CHECK(d == xt::xarray<double>{3.5, 1.5});
  CHECK(has(message_of<ad::ShapeError>([&] { ad::nn::gather_rows(x, idx, 3, 6, out); }), "[3, 6)"));
  CHECK(has(message_of<ad::ShapeError>([&] { ad::nn::gather_rows(x, {7}, 0, 1, out); }), "index 7"));
}

TEST_CASE("data: gather_rows from float data copies rows as they are, or widens them to double") {
  const xt::xarray<float> x = {{0.1f, 1}, {10, 11}, {20, 21.5f}};
  const std::vector<std::size_t> idx = {2, 0, 1};
  xt::xarray<float> out;
  ad::nn::gather_rows(x, idx, 0, 2, out);
  CHECK(out == xt::xarray<float>{{20, 21.5f}, {0.1f, 1}});
  const float* buffer = out.data();
  ad::nn::gather_rows(x, idx, 1, 3, out);
  CHECK(out == xt::xarray<float>{{0.1f, 1}, {10, 11}});
  CHECK(out.data() == buffer);
  xt::xarray<double> d;
  ad::nn::gather_rows(x, idx, 1, 2, d);
  CHECK(d == xt::xarray<double>{{double(0.1f), 1}});
  const xt::xarray<float> y = {3, 4, 5};  // (n,) targets
  ad::nn::gather_rows(y, idx, 0, 3, out);
  CHECK(out == xt::xarray<float>{5, 3, 4});
  CHECK(has(message_of<ad::ShapeError>([&] { ad::nn::gather_rows(x, idx, 2, 4, out); }), "[2, 4)"));
  CHECK(has(message_of<ad::ShapeError>([&] { ad::nn::gather_rows(x, {3}, 0, 1, out); }), "index 3"));
  // an expression still selects the double version, as before this overload existed
  ad::nn::gather_rows(xt::xarray<double>{1, 2} * 2.0, {1}, 0, 1, d);
  CHECK(d == xt::xarray<double>{4});
}

TEST_CASE("data: every loader reads float data as the double loader's values rounded once") {
  using ad::nn::FloatDataset;
  for (const std::string name : {"digits", "breast-cancer", "iris", "xor"}) {
    CAPTURE(name);
    const Dataset d = ad::nn::load_builtin(name);
    const FloatDataset f = ad::nn::load_builtin<float>(name);
    REQUIRE(f.x.shape() == d.x.shape());
    REQUIRE(f.y.shape() == d.y.shape());
    CHECK(f.x == xt::xarray<float>(xt::cast<float>(d.x)));
    CHECK(f.y == xt::xarray<float>(xt::cast<float>(d.y)));
    CHECK(f.labels() == d.labels());
    CHECK(f.classes() == d.classes());
    CHECK(f.class_names == d.class_names);
    CHECK(f.feature_names == d.feature_names);
    const FloatDataset c = d.as<float>();  // the conversion gives the same numbers
    CHECK(c.x == f.x);
    CHECK(c.y == f.y);
  }
  // breast cancer has values that float cannot hold exactly: they are rounded, not truncated
  const Dataset d = ad::nn::load_breast_cancer();
  const auto f = ad::nn::load_breast_cancer<float>();
  bool rounded = false;
  for (std::size_t k = 0; k < d.x.size(); ++k) {
    const double v = d.x.data()[k], r = static_cast<double>(f.x.data()[k]);
    CHECK(std::abs(v - r) <= std::abs(v) * 6e-8);
    rounded = rounded || v != r;
  }
  CHECK(rounded);
}

TEST_CASE("data: Fashion-MNIST as float is the same pixels in half the memory") {
  const auto f = ad::nn::load_fashion_mnist<float>(false);
  const Dataset d = ad::nn::load_fashion_mnist(false);
  CHECK(f.x.shape() == d.x.shape());
  CHECK(f.x == xt::xarray<float>(xt::cast<float>(d.x)));  // integers 0..255: exact
  CHECK(f.labels() == d.labels());
  CHECK(f.class_names == d.class_names);
  CHECK(sizeof(*f.x.data()) * 2 == sizeof(*d.x.data()));
}

TEST_CASE("data: float loading refuses values beyond float's range, naming where") {
  TempDir dir("floatcsv");
  const auto big = dir.write("big.csv", "1,2,0\n3,1e300,1\n");
  CHECK(ad::nn::load_csv(big).x(1, 1) == 1e300);  // fine as double
  const auto m = message_of<ad::ValueError>([&] { ad::nn::load_csv<float>(big); });
  CHECK(has(m, big + ":2:2"));
  CHECK(has(m, "float32"));
  Dataset d;
  d.x = xt::xarray<double>{{1, -1e39}};
  d.y = xt::xarray<double>{0};
  const auto m2 = message_of<ad::ValueError>([&] { (void)d.as<float>(); });
  CHECK(has(m2, "x[0, 1]"));
  // a label that is not a class index is still caught before narrowing
  const auto labels = dir.write("labels.csv", "1,2,0.5\n");
  CHECK(has(message_of<ad::ValueError>([&] { (void)ad::nn::load_csv<float>(labels).labels(); }), "y[0] = 0.5"));
}

TEST_CASE("data: split, subset and scalers on float data match the double path") {
  const Dataset d = ad::nn::load_breast_cancer();
  const auto f = d.as<float>();
  const auto sd = ad::nn::train_test_split(d, 0.25, 7, true);
  const auto sf = ad::nn::train_test_split(f, 0.25, 7, true);
  CHECK(sf.train.x == xt::xarray<float>(xt::cast<float>(sd.train.x)));
  CHECK(sf.test.labels() == sd.test.labels());
  CHECK(f.subset({5, 1, 5}).x == xt::xarray<float>(xt::cast<float>(d.subset({5, 1, 5}).x)));
  // Statistics are double in both cases, from the same values: fit on the float data and on
  // its values widened to double give the same numbers; transforming float data rounds the
  // double result once.
  const xt::xarray<double> widened = xt::cast<double>(sf.train.x);
  ad::nn::StandardScaler a, b;
  a.fit(sf.train.x);
  b.fit(widened);
  CHECK(a.mean == b.mean);
  CHECK(a.scale == b.scale);
  const xt::xarray<float> t = a.transform(sf.test.x);
  CHECK(t == xt::xarray<float>(xt::cast<float>(b.transform(xt::xarray<double>(xt::cast<double>(sf.test.x))))));
  xt::xarray<float> in_place = sf.test.x;
  a.transform_in_place(in_place);
  CHECK(in_place == t);
  const xt::xarray<float> back = a.inverse_transform(t);
  CHECK(xt::allclose(back, sf.test.x, 1e-5, 1e-3));
  ad::nn::MinMaxScaler mm, mmd;
  CHECK(mm.fit_transform(sf.train.x) == xt::xarray<float>(xt::cast<float>(mmd.fit_transform(widened))));
  ad::nn::MaxScaler mx, mxd;
  CHECK(mx.fit_transform(sf.train.x) == xt::xarray<float>(xt::cast<float>(mxd.fit_transform(widened))));
  CHECK(mx.divisor == mxd.divisor);
  // the fitted-shape check names the shapes for float data too
  CHECK(has(message_of<ad::ShapeError>([&] { (void)a.transform(xt::xarray<float>::from_shape({2, 3})); }),
            "(2, 3)"));
}
