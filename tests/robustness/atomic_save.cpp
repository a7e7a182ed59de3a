// Saving is atomic (issue 8): a process killed with SIGKILL in the middle of save() leaves the
// previous model file byte for byte as it was, and loadable. save() writes "<path>.tmp" and
// renames it over <path> only when complete (nn/src/serialize.cpp); this test proves it by
// forking a child that saves a large model over a small one and killing it as soon as the
// temporary file appears, i.e. mid-write.
#include "common.hpp"

#include <ad/nn/module.hpp>
#include <ad/nn/serialize.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

using namespace robust;

TEST_CASE("saving is atomic: a save killed midway leaves the old model intact and loadable") {
  TempDir dir("atomic");
  const std::string path = dir.file("net.model"), tmp = path + ".tmp";
  auto small = ad::nn::mlp<double>({4, 6, 3}, "relu", "softmax", 1);
  auto big = ad::nn::mlp<double>({400, 1000}, "relu", "identity", 2);  // 401,000 values, ~9 MB
  ad::nn::save(big, dir.file("big.model"));
  const auto big_size = fs::file_size(dir.file("big.model"));

  int killed_mid_write = 0, attempts = 0;
  for (; attempts < 40 && killed_mid_write < 3; ++attempts) {
    ad::nn::save(small, path);
    const std::string old = read_bytes(path);
    fs::remove(tmp);

    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      try {
        ad::nn::save(big, path);
      } catch (...) {
      }
      ::_exit(0);
    }
    // Kill the child the moment the temporary file exists: save() has opened it and is writing.
    bool exited = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!fs::exists(tmp) && std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      if (::waitpid(child, &st, WNOHANG) == child) {
        exited = true;
        break;
      }
    }
    if (!exited) {
      ::kill(child, SIGKILL);
      int st = 0;
      REQUIRE(::waitpid(child, &st, 0) == child);
    }
    if (fs::exists(tmp)) {
      // Killed between creating the temporary file and renaming it: the old file is untouched.
      ++killed_mid_write;
      CHECK(fs::file_size(tmp) < big_size);
      CHECK(read_bytes(path) == old);
      auto back = ad::nn::load_model<double>(path);
      REQUIRE(back.parameters().size() == small.parameters().size());
      for (std::size_t k = 0; k < back.parameters().size(); ++k)
        CHECK(back.parameters()[k]->value == small.parameters()[k]->value);
    } else {
      // The save finished (or never started) before the kill: the file is one whole model.
      const std::string now = read_bytes(path);
      CHECK((now == old || now.size() == big_size));
      CHECK_NOTHROW(ad::nn::load_model<double>(path));
    }
  }
  CAPTURE(attempts);
  CHECK(killed_mid_write >= 1);
  // A later save over the leftover temporary file works normally.
  ad::nn::save(small, path);
  CHECK(!fs::exists(tmp));
  CHECK_NOTHROW(ad::nn::load_model<double>(path));
}
