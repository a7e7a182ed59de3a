// Shared by the fuzz targets: the loaders take paths, so each input is written to one scratch
// file per process (in /dev/shm when there is one, so no disk is touched).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace ad::fuzz {

inline std::string scratch_path(const char* name) {
  const char* dir = std::getenv("AD_FUZZ_TMP");
  std::string d = dir && *dir ? dir : (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  return d + "/ad_fuzz_" + std::to_string(::getpid()) + "_" + name;
}

/// A scratch file removed when the process exits (libFuzzer ends with exit(), so static objects
/// are destroyed).
struct Scratch {
  std::string path;
  explicit Scratch(const char* name) : path(scratch_path(name)) {}
  ~Scratch() { std::remove(path.c_str()); }
  operator const std::string&() const { return path; }
};

inline void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

}  // namespace ad::fuzz
