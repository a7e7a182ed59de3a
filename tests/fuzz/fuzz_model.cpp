// Fuzzes ad::nn::load_model and load_weights. The first byte's low bit says whether the
// harness appends a correct checksum trailer to the rest (without it almost every mutation
// stops at the checksum; with it the fuzzer reaches the layer and tensor parsing). A model that
// loads must save and load back to the same description, and run a forward pass.
#include "fuzz_common.hpp"

#include <ad/nn/serialize.hpp>
#include <ad/nn/train.hpp>

#include <fmt/format.h>
#include <xtensor/xbuilder.hpp>

#include <cstdlib>
#include <string>


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const ad::fuzz::Scratch path("model"), again("model_again");
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += fmt::format("checksum {:016x}\nend\n", ad::nn::model_checksum(text));
  }
  ad::fuzz::write_file(path, reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  try {
    auto net = ad::nn::load_model<double>(path);
    ad::nn::save(net, again);
    auto back = ad::nn::load_model<double>(again);
    if (back.describe() != net.describe()) std::abort();
    // A forward pass on two rows of zeros, when the first layer says how wide the input is.
    if (net.size() > 0)
      if (auto* first = dynamic_cast<ad::nn::Linear<double>*>(&net[0]); first && first->in_features() <= 4096) {
        xt::xarray<double> x = xt::zeros<double>({std::size_t(2), first->in_features()});
        net.eval();
        (void)ad::nn::predict(net, x);
      }
    ad::nn::load_weights(back, path);
  } catch (const ad::Error&) {
  }
  try {
    auto fixed = ad::nn::mlp<float>({4, 6, 3}, "relu", "softmax", 1);
    ad::nn::load_weights(fixed, path);
  } catch (const ad::Error&) {
  }
  return 0;
}
