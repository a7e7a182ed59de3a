// distributed.hpp and mpi.hpp in one process (no mpirun): the shares of a batch, the hash, the
// one-process communicator, fit with it (bitwise the same as without), and MpiSession outside a
// launcher. The collective behaviour on real ranks is tests/mpi/ (run under mpirun).
#include <ad/nn/distributed.hpp>
#include <ad/nn/mpi.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/train.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace ad::nn;

TEST_CASE("share_of: contiguous shares covering the batch, sizes differing by at most one") {
  CHECK(share_of(7, 0, 2) == std::pair<std::size_t, std::size_t>(0, 3));
  CHECK(share_of(7, 1, 2) == std::pair<std::size_t, std::size_t>(3, 7));
  CHECK(share_of(2, 0, 3) == std::pair<std::size_t, std::size_t>(0, 0));  // no rows for rank 0
  CHECK(share_of(2, 1, 3) == std::pair<std::size_t, std::size_t>(0, 1));
  CHECK(share_of(2, 2, 3) == std::pair<std::size_t, std::size_t>(1, 2));
  for (std::size_t rows : {0, 1, 5, 100, 128, 1437})
    for (int p : {1, 2, 3, 7, 64}) {
      std::size_t next = 0, lo_size = rows, hi_size = 0;
      for (int r = 0; r < p; ++r) {
        const auto [a, b] = share_of(rows, r, p);
        CHECK(a == next);
        CHECK(b >= a);
        next = b;
        lo_size = std::min(lo_size, b - a), hi_size = std::max(hi_size, b - a);
      }
      CHECK(next == rows);
      CHECK(hi_size - lo_size <= 1);
    }
  CHECK_THROWS_AS(share_of(10, 2, 2), ad::ValueError);
  CHECK_THROWS_AS(share_of(10, 0, 0), ad::ValueError);
}

TEST_CASE("hash_bytes: the same bytes the same hash; one bit, the length or the seed changes it") {
  std::vector<double> a = {1, 2, 3, 4.5, -0.0};
  const auto h = hash_bytes(a.data(), a.size() * sizeof(double));
  CHECK(h == hash_bytes(a.data(), a.size() * sizeof(double)));
  CHECK(h != hash_bytes(a.data(), a.size() * sizeof(double), 1));
  CHECK(h != hash_bytes(a.data(), (a.size() - 1) * sizeof(double)));
  a[4] = 0.0;  // -0.0 and 0.0 compare equal but differ in one bit
  CHECK(h != hash_bytes(a.data(), a.size() * sizeof(double)));
  const char odd[3] = {1, 2, 3}, odd2[3] = {1, 2, 4};
  CHECK(hash_bytes(odd, 3) != hash_bytes(odd2, 3));
}

TEST_CASE("the one-process communicator: rank 0 of 1, buffers unchanged, checks pass, errors raised") {
  Communicator& c = self_communicator();
  CHECK(c.rank() == 0);
  CHECK(c.size() == 1);
  CHECK(c.root());
  std::vector<double> d = {1.5, -2};
  c.allreduce_sum(d);
  c.allreduce_max(d);
  c.broadcast(d, 0);
  CHECK(d == std::vector<double>{1.5, -2});
  CHECK(c.allgather("me") == std::vector<std::string>{"me"});
  CHECK_NOTHROW(check_same(c, "t", {{"a", "1"}}));
  CHECK_NOTHROW(agree(c, ""));
  try {
    agree(c, "data.csv: cannot open the file", 2);
    FAIL("agree did not throw");
  } catch (const CollectiveError& e) {
    CHECK(std::string(e.what()) == "data.csv: cannot open the file");
    CHECK(e.exit_code == 2);
  }
  auto net = mlp<double>({3, 4, 2}, "tanh", "softmax", 1);
  CHECK_NOTHROW(check_replicas(c, net));
  const auto h = state_hash(net);
  net.parameters()[1]->value(0) += 1e-9;
  CHECK(state_hash(net) != h);
  SGD<double> opt(net.parameters(), {.lr = 0.1});
  Trainer<double> t(net, opt, Loss::cross_entropy);
  t.set_communicator(&c);
  CHECK(t.communicator() == nullptr);  // one rank: plain steps
}

TEST_CASE("fit with the one-process communicator is fit without one, bit for bit") {
  Rng rng(3);
  xt::xarray<double> x = xt::xarray<double>::from_shape({50, 3}), y = xt::xarray<double>::from_shape({50});
  for (std::size_t i = 0; i < 50; ++i) {
    for (std::size_t j = 0; j < 3; ++j) x(i, j) = rng.uniform(-1, 1);
    y(i) = x(i, 0) + x(i, 1) > 0 ? 1 : 0;
  }
  auto a = mlp<double>({3, 5, 2}, "tanh", "softmax", 2), b = mlp<double>({3, 5, 2}, "tanh", "softmax", 2);
  SGD<double> oa(a.parameters(), {.lr = 0.3}), ob(b.parameters(), {.lr = 0.3});
  const History ha = fit(a, oa, x, y, {.epochs = 4, .batch_size = 7, .seed = 1, .verbose = 0});
  const History hb = fit(b, ob, x, y, {.epochs = 4, .batch_size = 7, .seed = 1, .verbose = 0, .comm = &self_communicator()});
  for (std::size_t e = 0; e < 4; ++e) CHECK(ha.epochs[e].loss == hb.epochs[e].loss);
  CHECK(state_hash(a) == state_hash(b));
}

TEST_CASE("MpiSession outside an MPI launcher: one process; a launch it cannot serve is an error") {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"}) CHECK(std::getenv(v) == nullptr);
  CHECK(mpi_launch_size() == 0);
  {
    MpiSession s(nullptr, nullptr, false);
    CHECK(!s.started());
    CHECK(s.world().size() == 1);
  }
  ::setenv("PMI_SIZE", "4", 1);
  CHECK(mpi_launch_size() == 4);
  if (!mpi_built()) {  // each of 4 processes would train alone and write the same files
    try {
      MpiSession s;
      FAIL("no error");
    } catch (const ad::IoError& e) {
      CHECK(std::string(e.what()).find("started by an MPI launcher with 4 processes, but this program was built "
                                       "without MPI") == 0);
    }
  }
  ::unsetenv("PMI_SIZE");
  CHECK(mpi_launch_size() == 0);
}
