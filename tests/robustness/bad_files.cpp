// The bad-input catalogue of issue 8 for files: every case is a file on disk and the exact
// message of the exact exception type it must produce (docs/robustness.md lists them).
// CSV: empty, blank, header only, non-numeric and empty cells (file:line:column), NaN, Inf,
// out of range, ragged rows, row and label counts against a scikit-learn header, truncated
// gzip. IDX: wrong magic, unknown type, absurd dimensions (refused before allocating, plain and
// gzipped), truncated data and gzip, NaN/Inf, image and label counts. Model files: another
// version, another architecture, tensor shapes, foreign, empty, truncated, corrupt.
#include "common.hpp"

#include <ad/nn/data.hpp>
#include <ad/nn/serialize.hpp>

#include <fmt/format.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

using namespace robust;
using ad::nn::load_csv;
using ad::nn::load_idx;
using ad::nn::load_idx_array;

namespace {

std::string gzip(const std::string& content) {
  std::string out(compressBound(content.size()) + 64, '\0');
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);  // gzip wrapper
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(content.data()));
  z.avail_in = static_cast<uInt>(content.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string idx_header(unsigned type, const std::vector<std::uint32_t>& dims) {
  std::string s = {0, 0, char(type), char(dims.size())};
  for (auto d : dims) s += std::string{char(d >> 24), char(d >> 16), char(d >> 8), char(d)};
  return s;
}

/// A model file body with its checksum trailer, as save() writes it.
std::string with_trailer(const std::string& body) {
  return body + fmt::format("checksum {:016x}\nend\n", ad::nn::model_checksum(body));
}

}  // namespace

TEST_CASE("bad input: CSV files, each with its exact error") {
  TempDir dir("csv");
  struct Case {
    const char* name;
    std::string content;
    const char* expected;  // {} = the file's path
  };
  const std::vector<Case> parse_errors = {
      {"text.csv", "a,b,y\n1,2,0\n3,abc,1\n", "load_csv: {}:3:2: cannot parse 'abc' as a number"},
      {"empty_cell.csv", "1,2,0\n3,,1\n", "load_csv: {}:2:2: empty cell where a number is expected"},
      {"quoted_text.csv", "1,2,0\n\"1,5\",2,1\n", "load_csv: {}:2:1: cannot parse '1,5' as a number"},
      {"crlf_text.csv", "1,2,0\r\n3,4,x\r\n", "load_csv: {}:2:3: cannot parse 'x' as a number"},
  };
  for (const auto& c : parse_errors) {
    CAPTURE(c.name);
    const auto p = dir.write(c.name, c.content);
    CHECK(message_of<ad::ParseError>([&] { load_csv(p); }) == fmt::format(fmt::runtime(c.expected), p));
  }
  const std::vector<Case> value_errors = {
      {"nan.csv", "1,2,0\n3,4,1\n5,nan,0\n", "load_csv: {}:3:2: NaN in data ('nan')"},
      {"inf.csv", "1,2,0\n-inf,4,1\n", "load_csv: {}:2:1: Inf in data ('-inf')"},
      {"inf_label.csv", "1,2,0\n3,4,INF\n", "load_csv: {}:2:3: Inf in data ('INF')"},
      {"huge.csv", "1,2,0\n1e999,4,1\n", "load_csv: {}:2:1: '1e999' is out of the range of a double"},
      {"label_range.csv", "2,2,no,yes\n1,2,0\n3,4,2\n",
       "load_csv: {}:3:3: label '2' is not a class index in [0, 2) of the header's class names"},
  };
  for (const auto& c : value_errors) {
    CAPTURE(c.name);
    const auto p = dir.write(c.name, c.content);
    CHECK(message_of<ad::ValueError>([&] { load_csv(p); }) == fmt::format(fmt::runtime(c.expected), p));
  }
  const std::vector<Case> shape_errors = {
      {"ragged.csv", "1,2,0\n3,4,1\n\n5,6\n", "load_csv: {}:4: expected 3 columns (as in line 1), found 2"},
      {"rows_vs_header.csv", "3,2,no,yes\n1,2,0\n3,4,1\n", "load_csv: {}: the header says 3 rows but the file has 2"},
      {"header_width.csv", "a,b\n1,2,3\n", "load_csv: {}:1: the header has 2 columns but line 2 has 3"},
      {"one_column.csv", "1\n2\n", "load_csv: {}: only one column, the label; no features left"},
  };
  for (const auto& c : shape_errors) {
    CAPTURE(c.name);
    const auto p = dir.write(c.name, c.content);
    CHECK(message_of<ad::ShapeError>([&] { load_csv(p); }) == fmt::format(fmt::runtime(c.expected), p));
  }
  const std::vector<Case> io_errors = {
      {"empty.csv", "", "load_csv: {}: file is empty"},
      {"blank.csv", "\n  \n\r\n", "load_csv: {}: file has no rows (only blank lines)"},
      {"header_only.csv", "a,b,c\n", "load_csv: {}: no data rows after the header"},
      {"empty.csv.gz", gzip(""), "load_csv: {}: file is empty (after decompression)"},
  };
  for (const auto& c : io_errors) {
    CAPTURE(c.name);
    const auto p = dir.write(c.name, c.content);
    CHECK(message_of<ad::IoError>([&] { load_csv(p); }) == fmt::format(fmt::runtime(c.expected), p));
  }

  // Truncated gzip: a valid stream cut anywhere past its 10-byte header says so, never crashes
  // or returns a partial table (the message used to carry the path twice, zlib's copy inside the
  // parentheses).
  std::string rows;
  for (int i = 0; i < 400; ++i) rows += fmt::format("{},{},{}\n", i * 0.5, i % 7, i % 2);
  const std::string gz = gzip(rows);
  for (std::size_t cut : {gz.size() / 4, gz.size() / 2, gz.size() - 9, gz.size() - 1}) {
    CAPTURE(cut);
    const auto p = dir.write("cut.csv.gz", gz.substr(0, cut));
    CHECK(message_of<ad::IoError>([&] { load_csv(p); }) ==
          fmt::format("load_csv: {}: truncated or corrupt gzip data (unexpected end of file)", p));
  }
  CHECK(load_csv(dir.write("whole.csv.gz", gz)).size() == 400);
  const std::string missing = dir.file("missing.csv");
  CHECK(message_of<ad::IoError>([&] { load_csv(missing); }) == fmt::format("load_csv: {}: no such file", missing));
}

TEST_CASE("bad input: IDX files, each with its exact error; absurd headers refused before allocating") {
  TempDir dir("idx");
  auto io = [&](const std::string& name, const std::string& content) {
    const auto p = dir.write(name, content);
    return std::pair{p, message_of<ad::IoError>([&] { load_idx_array(p); })};
  };
  {
    auto [p, m] = io("empty", "");
    CHECK(m == fmt::format("load_idx: {}: file is empty", p));
  }
  {
    auto [p, m] = io("csv", "1,2,3\n4,5,6\n");
    CHECK(m == fmt::format("load_idx: {}: not an IDX file: magic 31 2c 32 2c, expected 00 00 <type "
                           "08/09/0b/0c/0d/0e> <dimensions >= 1>", p));
  }
  {
    auto [p, m] = io("wrong_magic", std::string{1, 0, 8, 1, 0, 0, 0, 1, 7});
    CHECK(m == fmt::format("load_idx: {}: not an IDX file: magic 01 00 08 01, expected 00 00 <type "
                           "08/09/0b/0c/0d/0e> <dimensions >= 1>", p));
  }
  {
    auto [p, m] = io("zero_dims", std::string{0, 0, 8, 0});
    CHECK(m == fmt::format("load_idx: {}: not an IDX file: magic 00 00 08 00, expected 00 00 <type "
                           "08/09/0b/0c/0d/0e> <dimensions >= 1>", p));
  }
  {
    // ~1.8e19 elements: the product overflows 64 bits unless checked factor by factor.
    auto [p, m] = io("absurd", idx_header(0x0E, {0xFFFFFFFFu, 0xFFFFFFFFu}) + "abc");
    CHECK(m == fmt::format("load_idx: {}: header dimensions 4294967295 x 4294967295 are absurd (more "
                           "than 2^31 elements); the file is corrupt", p));
  }
  {
    auto [p, m] = io("absurd3", idx_header(0x08, {65536, 65536, 65536}) + "abc");
    CHECK(m == fmt::format("load_idx: {}: header dimensions 65536 x 65536 x 65536 are absurd (more "
                           "than 2^31 elements); the file is corrupt", p));
  }
  {
    // No rows, but rows of 2^64 - 2^33 + 1 values: features() would overflow (bug found by reading
    // load_idx_array; zero dimensions used to end the size check).
    auto [p, m] = io("empty_but_wide", idx_header(0x08, {0, 0xFFFFFFFFu, 0xFFFFFFFFu}));
    CHECK(m == fmt::format("load_idx: {}: header dimensions 0 x 4294967295 x 4294967295 are absurd (more "
                           "than 2^31 elements); the file is corrupt", p));
  }
  {
    // 4 GB announced by an 8-byte plain file.
    auto [p, m] = io("large", idx_header(0x0C, {1000000000}) + "abcd");
    CHECK(m == fmt::format("load_idx: {}: truncated: the header (1000000000) needs 4000000000 bytes of "
                           "data but the file has 4", p));
  }
  {
    // 47 MB announced by a gzip file of a few dozen bytes: more than deflate can expand it to.
    const auto p = dir.write("absurd.gz", gzip(idx_header(0x08, {60000, 28, 28}) + "abc"));
    const auto size = fs::file_size(p);
    CHECK(message_of<ad::IoError>([&] { load_idx_array(p); }) ==
          fmt::format("load_idx: {}: the header (60000 x 28 x 28) needs 47040000 bytes of data, more "
                      "than a {}-byte gzip file can hold; the file is corrupt or truncated", p, size));
  }
  {
    // Within deflate's ratio but short: a gzip stream that compresses ~30-fold announces 500,000
    // bytes and holds 200,000. Decoded as doubles that would be 4 MB from a ~15 kB file, so the
    // stream is read through first and the error comes before that allocation.
    std::string data(200000, '\0');
    std::uint32_t s = 12345;
    for (auto& c : data) {
      s = s * 1664525u + 1013904223u;
      if ((s >> 28) == 0) c = static_cast<char>(s >> 8);
    }
    const auto p = dir.write("short.gz", gzip(idx_header(0x08, {500, 1000}) + data));
    REQUIRE(fs::file_size(p) * 1032 > 500000);      // the ratio bound alone lets it through
    REQUIRE(500000 * 8 > fs::file_size(p) * 64);     // but it is checked before allocating
    CHECK(message_of<ad::IoError>([&] { load_idx_array(p); }) ==
          fmt::format("load_idx: {}: truncated: the header (500 x 1000) needs 500000 bytes of data, "
                      "the gzip stream holds 200000", p));
    // The same check passes a complete, highly compressible file, which then loads in full.
    std::string full(500000, '\0');
    for (std::size_t i = 0; i < full.size(); i += 997) full[i] = static_cast<char>(i % 251);
    const auto q = dir.write("full.gz", gzip(idx_header(0x08, {500, 1000}) + full));
    REQUIRE(500000 * 8 > fs::file_size(q) * 64);
    const auto a = load_idx_array(q);
    REQUIRE(a.size() == 500000);
    CHECK(a(0, 0) == 0.0);
    CHECK(a(0, 997) == 997 % 251);
    CHECK(a(499, 999) == double(static_cast<unsigned char>(full[499999])));
  }
  {
    auto [p, m] = io("short_header", idx_header(0x08, {3, 2, 2}).substr(0, 9));
    CHECK(m == fmt::format("load_idx: {}: truncated in the header (3 dimensions announced)", p));
  }
  {
    auto [p, m] = io("short_data", idx_header(0x08, {3, 2, 2}) + std::string(11, 'a'));
    CHECK(m == fmt::format("load_idx: {}: truncated: the header (3 x 2 x 2) needs 12 bytes of data but "
                           "the file has 11", p));
  }
  {
    auto [p, m] = io("trailing", idx_header(0x08, {2}) + std::string{1, 2, 3});
    CHECK(m == fmt::format("load_idx: {}: more data than the header (2) describes; the file is corrupt "
                           "or not IDX", p));
  }
  {
    // A gzip stream cut short inside the pixel data.
    std::string big = idx_header(0x08, {100, 28, 28});
    for (int i = 0; i < 100 * 784; ++i) big += char((i * 7919) % 251);
    const std::string gz = gzip(big);
    auto [p, m] = io("cut.gz", gz.substr(0, gz.size() / 2));
    CHECK(m == fmt::format("load_idx: {}: truncated or corrupt gzip data (unexpected end of file)", p));
  }
  // NaN and Inf in float and double data.
  for (const auto& bad : {std::pair{"nan_f", std::string{0x7f, char(0xc0), 0, 0}},
                          std::pair{"inf_f", std::string{0x7f, char(0x80), 0, 0}},
                          std::pair{"ninf_d", std::string{char(0xff), char(0xf0), 0, 0, 0, 0, 0, 0}}}) {
    const char* name = bad.first;  // not a structured binding: clang 14 cannot capture one
    const std::string& bytes = bad.second;
    CAPTURE(name);
    const unsigned type = bytes.size() == 4 ? 0x0D : 0x0E;
    std::string one(bytes.size(), '\0');  // 0.0 first, the bad value second
    const auto p = dir.write(name, idx_header(type, {2}) + one + bytes);
    CHECK(message_of<ad::ValueError>([&] { load_idx_array(p); }) ==
          fmt::format("load_idx: {}: NaN or Inf at element 1", p));
  }
  // Images and labels that do not pair up.
  const auto images = dir.write("images", idx_header(0x08, {3, 1, 2}) + std::string(6, '\1'));
  const auto labels2 = dir.write("labels2", idx_header(0x08, {2}) + std::string{1, 2});
  CHECK(message_of<ad::ValueError>([&] { load_idx(images, labels2); }) ==
        fmt::format("load_idx: {} has 3 images but {} has 2 labels", images, labels2));
  const auto labels2d = dir.write("labels2d", idx_header(0x08, {3, 1}) + std::string{1, 2, 3});
  CHECK(message_of<ad::ShapeError>([&] { load_idx(images, labels2d); }) ==
        fmt::format("load_idx: {}: labels must be one-dimensional, got shape (3, 1)", labels2d));
  const auto negative = dir.write("negative", idx_header(0x09, {3}) + std::string{1, char(-2), 3});
  CHECK(message_of<ad::ValueError>([&] { load_idx(images, negative); }) ==
        fmt::format("load_idx: {}: label -2 at index 1 is not a class index", negative));
  CHECK(load_idx(images, dir.write("labels3", idx_header(0x08, {3}) + std::string{1, 0, 1})).size() == 3);
}

TEST_CASE("model_checksum is FNV-1a 64 (published test vectors) and is what save() writes") {
  CHECK(ad::nn::model_checksum("") == 0xcbf29ce484222325ull);
  CHECK(ad::nn::model_checksum("a") == 0xaf63dc4c8601ec8cull);
  CHECK(ad::nn::model_checksum("foobar") == 0x85944171f73967e8ull);
  TempDir dir("checksum");
  auto net = ad::nn::mlp<double>({2, 3}, "relu", "softmax", 7);
  const auto p = dir.file("m.model");
  ad::nn::save(net, p);
  const std::string text = read_bytes(p);
  const auto at = text.rfind("checksum ");
  REQUIRE(at != std::string::npos);
  CHECK(text.substr(at) == fmt::format("checksum {:016x}\nend\n", ad::nn::model_checksum(text.substr(0, at))));
}

TEST_CASE("bad input: model files from another version or architecture, foreign, cut or corrupt") {
  TempDir dir("model");
  auto net = ad::nn::mlp<double>({4, 6, 3}, "relu", "softmax", 1);
  const auto path = dir.file("net.model");
  ad::nn::save(net, path);
  const std::string good = read_bytes(path);
  const std::string body = good.substr(0, good.rfind("checksum "));
  auto load = [](const std::string& p) { return message_of<ad::IoError>([&] { ad::nn::load_model<double>(p); }); };

  // Another version: the checksum is right, the version is not ours.
  std::string v2 = body;
  v2.replace(0, std::string("ad-nn-model 1").size(), "ad-nn-model 2");
  const auto pv2 = dir.write("v2.model", with_trailer(v2));
  CHECK(load(pv2) == fmt::format("load_model: {} line 1: format version 2 is not supported (this library "
                                 "reads version 1)", pv2));
  // Another architecture into an existing model: wider hidden layer, fewer layers.
  auto wider = ad::nn::mlp<double>({4, 7, 3}, "relu", "softmax", 1);
  CHECK(message_of<ad::IoError>([&] { ad::nn::load_weights(wider, path); }) ==
        fmt::format("load_weights: {}: layer 0 is 'linear 4 6 bias' in the file but 'linear 4 7 bias' in "
                    "the model", path));
  auto shorter = ad::nn::mlp<double>({4, 3}, "relu", "softmax", 1);
  CHECK(message_of<ad::IoError>([&] { ad::nn::load_weights(shorter, path); }) ==
        fmt::format("load_weights: {}: the file holds 4 layers, the model has 2", path));
  const auto before = wider.parameters()[0]->value;
  CHECK(wider.parameters()[0]->value == before);  // nothing was written into the model
  // A tensor whose shape disagrees with its layer line (checksum fixed up).
  std::string reshaped = body;
  reshaped.replace(reshaped.find("tensor 0.weight 2 4 6"), 21, "tensor 0.weight 2 6 4");
  const auto pr = dir.write("reshaped.model", with_trailer(reshaped));
  CHECK(load(pr) == fmt::format("load_weights: {}: tensor 0 is 0.weight (6, 4) in the file but 0.weight "
                                "(4, 6) in the model", pr));
  // A layer this library does not know.
  std::string alien = body;
  alien.replace(alien.find("layer activation relu"), 21, "layer conv2d 3 3 same");
  const auto pa = dir.write("alien.model", with_trailer(alien));
  CHECK(load(pa) == fmt::format("load_model: {}: layer 'conv2d 3 3 same': unknown layer kind or wrong number "
                                "of fields", pa));
  // Sizes that would need absurd memory are refused before allocating (bugs found with the
  // fuzz_model harness: std::length_error from reserve, a 80 GB Linear, a negative size cast to
  // size_t, which is undefined behaviour).
  auto edited = [&](const std::string& name, const std::string& from, const std::string& to) {
    std::string b = body;
    b.replace(b.find(from), from.size(), to);
    return dir.write(name, with_trailer(b));
  };
  const auto huge_tensor = edited("huge_tensor.model", "tensor 0.weight 2 4 6", "tensor 0.weight 2 4000000000 4000000000");
  CHECK(load(huge_tensor) == fmt::format("load_model: {} line 9: tensor 0.weight (4000000000, 4000000000): announces "
                                         "more values than the file holds", huge_tensor));
  const auto overflow = edited("overflow.model", "tensor 0.weight 2 4 6", "tensor 0.weight 3 4294967296 4294967296 2");
  CHECK(load(overflow) == fmt::format("load_model: {} line 9: tensor 0.weight (4294967296, 4294967296, 2): announces "
                                      "more values than the file holds", overflow));
  const auto huge_linear = edited("huge_linear.model", "layer linear 4 6 bias", "layer linear 100000 100000 bias");
  CHECK(load(huge_linear) == fmt::format("load_model: {}: layer 'linear 100000 100000 bias': size 100000 is larger "
                                         "than the 51 values the file holds", huge_linear));
  const auto wide_linear = edited("wide_linear.model", "layer linear 4 6 bias", "layer linear 40 40 bias");
  CHECK(load(wide_linear) == fmt::format("load_model: {}: layer 'linear 40 40 bias': 40 x 40 weights are more than "
                                         "the 51 values the file holds", wide_linear));
  const auto negative = edited("negative.model", "layer linear 4 6 bias", "layer linear -1 6 bias");
  CHECK(load(negative) == fmt::format("load_model: {}: layer 'linear -1 6 bias': size '-1' is not a whole number",
                                      negative));
  const auto fraction = edited("fraction.model", "layer linear 4 6 bias", "layer linear 4 1e300 bias");
  CHECK(load(fraction) == fmt::format("load_model: {}: layer 'linear 4 1e300 bias': size '1e300' is not a whole "
                                      "number", fraction));

  // Foreign, empty, cut, corrupt.
  const auto foreign = dir.write("foreign.model", "PK\3\4 a zip file perhaps");
  CHECK(load(foreign) == fmt::format("load_model: {}: not a model file: it does not start with 'ad-nn-model'", foreign));
  const auto empty = dir.write("empty.model", "");
  CHECK(load(empty) == fmt::format("load_model: {}: the file is empty", empty));
  const auto cut = dir.write("cut.model", good.substr(0, good.size() / 2));
  CHECK(load(cut) == fmt::format("load_model: {}: the file is truncated: the closing 'checksum' and 'end' "
                                 "lines are missing", cut));
  std::string flipped = good;
  const std::size_t at = flipped.find("0x1.", flipped.find("tensor 2.weight")) + 4;
  flipped[at] = flipped[at] == '0' ? '1' : '0';
  const auto corrupt = dir.write("corrupt.model", flipped);
  CHECK(load(corrupt) == fmt::format("load_model: {}: the file is corrupt: checksum {:016x} does not match the "
                                     "contents ({:016x})", corrupt, ad::nn::model_checksum(body), ad::nn::model_checksum(flipped.substr(0, body.size()))));
  const std::string missing = dir.file("missing.model");
  CHECK(load(missing) == fmt::format("load_model: {}: cannot open the file (No such file or directory)", missing));
  // And the good file still loads, bit for bit.
  auto back = ad::nn::load_model<double>(path);
  CHECK(back.parameters()[0]->value == net.parameters()[0]->value);
}
