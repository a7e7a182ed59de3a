// Saving and loading models: a versioned text file holding the architecture and every weight as
// an exact hexadecimal float, so a load gives back the very same bits (format: docs/model-format.md).
//
// save() writes to "<path>.tmp" first and renames it over <path> only once it is complete, so a
// failed save leaves the old file intact. Loading checks the header, version, every count,
// shape and value, and a checksum; a missing, truncated, corrupt or mismatched file throws
// ad::IoError naming the file, the line and what is wrong.
//
//   ad::nn::save(net, "digits.model");
//   auto again = ad::nn::load_model<double>("digits.model");   // architecture + weights
//   ad::nn::load_weights(net, "digits.model");                   // into an existing model
#pragma once

#include <ad/nn/module.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace ad::nn {

inline constexpr int kModelFormatVersion = 1;

/// The checksum of a model file: FNV-1a 64-bit of every byte before its `checksum` line (see
/// docs/model-format.md). For tools and tests that write model files by hand.
std::uint64_t model_checksum(std::string_view body) noexcept;

/// Writes the model (a Sequential of Linear/Activation/Dropout/BatchNorm1d, or one such layer).
template <class T>
void save(Module<T>& model, const std::string& path);

/// Builds the model stored in `path` (as a Sequential) with its weights.
template <class T>
Sequential<T> load_model(const std::string& path);

/// Loads the weights of `path` into `model`, whose architecture must be the stored one (layer by
/// layer, same specs and shapes); IoError describes the first difference otherwise.
template <class T>
void load_weights(Module<T>& model, const std::string& path);

extern template void save<float>(Module<float>&, const std::string&);
extern template void save<double>(Module<double>&, const std::string&);

}  // namespace ad::nn
