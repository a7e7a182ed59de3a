// MpiSession and the MPI communicator (mpi.hpp). Built with AD_WITH_MPI: the C API of MPI
// (Open MPI on Debian). Without it: the same API, world() is always one process.
#include <ad/nn/mpi.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

#ifdef AD_WITH_MPI
#include <mpi.h>
#endif

namespace ad::nn {

int mpi_launch_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"})
    if (const char* s = std::getenv(v); s && *s) return std::max(1, std::atoi(s));
  return 0;
}

#ifdef AD_WITH_MPI

bool mpi_built() { return true; }

namespace {

/// An MPI call's error as an exception naming the call and MPI's own words.
void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw IoError(fmt::format("{} failed: {}", call, std::string(text, static_cast<std::size_t>(len))));
}

template <class T>
MPI_Datatype type_of();
template <>
MPI_Datatype type_of<double>() { return MPI_DOUBLE; }
template <>
MPI_Datatype type_of<float>() { return MPI_FLOAT; }

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduce_sum(std::span<double> d) override { reduce(d, MPI_SUM); }
  void allreduce_sum(std::span<float> d) override { reduce(d, MPI_SUM); }
  void allreduce_max(std::span<double> d) override { reduce(d, MPI_MAX); }
  void broadcast(std::span<double> d, int root) override { bcast(d, root); }
  void broadcast(std::span<float> d, int root) override { bcast(d, root); }
  std::vector<std::string> allgather(const std::string& mine) override {
    if (mine.size() > INT_MAX) throw ValueError("allgather: a string longer than 2 GB");
    int len = static_cast<int>(mine.size());
    std::vector<int> lens(static_cast<std::size_t>(size_)), offsets(static_cast<std::size_t>(size_));
    check(MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, comm_), "MPI_Allgather");
    long total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[static_cast<std::size_t>(r)] = static_cast<int>(total);
      total += lens[static_cast<std::size_t>(r)];
      if (total > INT_MAX) throw ValueError("allgather: more than 2 GB in all");
    }
    std::string all(static_cast<std::size_t>(total), '\0');
    check(MPI_Allgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, comm_),
          "MPI_Allgatherv");
    std::vector<std::string> out;
    for (int r = 0; r < size_; ++r)
      out.push_back(all.substr(static_cast<std::size_t>(offsets[static_cast<std::size_t>(r)]),
                               static_cast<std::size_t>(lens[static_cast<std::size_t>(r)])));
    return out;
  }
  void barrier() override { check(MPI_Barrier(comm_), "MPI_Barrier"); }
  [[noreturn]] void abort(const std::string& message, int exit_code) override {
    std::fprintf(stderr, "%s\n", message.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);  // MPI_Abort does not return; if it did, this process still ends
  }

 private:
  // Counts are int in MPI's C API: buffers of more than INT_MAX elements go in pieces.
  template <class T>
  void reduce(std::span<T> d, MPI_Op op) {
    for (std::size_t at = 0; at < d.size(); at += INT_MAX) {
      const int n = static_cast<int>(std::min<std::size_t>(INT_MAX, d.size() - at));
      check(MPI_Allreduce(MPI_IN_PLACE, d.data() + at, n, type_of<T>(), op, comm_), "MPI_Allreduce");
    }
    if (d.empty()) check(MPI_Allreduce(MPI_IN_PLACE, d.data(), 0, type_of<T>(), op, comm_), "MPI_Allreduce");
  }
  template <class T>
  void bcast(std::span<T> d, int root) {
    for (std::size_t at = 0; at < d.size(); at += INT_MAX) {
      const int n = static_cast<int>(std::min<std::size_t>(INT_MAX, d.size() - at));
      check(MPI_Bcast(d.data() + at, n, type_of<T>(), root, comm_), "MPI_Bcast");
    }
  }
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
};

}  // namespace

MpiSession::MpiSession(int* argc, char*** argv, bool start) {
  if (!start) {
    world_ = std::make_unique<SelfCommunicator>();
    return;
  }
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    check(MPI_Init(argc, argv), "MPI_Init");
    started_ = true;
  }
  world_ = std::make_unique<MpiCommunicator>();
}

MpiSession::~MpiSession() {
  world_.reset();
  if (started_) MPI_Finalize();
}

#else  // built without MPI

bool mpi_built() { return false; }

MpiSession::MpiSession(int*, char***, bool) {
  if (const int n = mpi_launch_size(); n > 1)
    throw IoError(fmt::format("started by an MPI launcher with {} processes, but this program was built without MPI "
                              "(cmake -DAD_WITH_MPI=OFF, or MPI not found): each process would train alone; install "
                              "libopenmpi-dev and rebuild",
                              n));
  world_ = std::make_unique<SelfCommunicator>();
}

MpiSession::~MpiSession() = default;

#endif

}  // namespace ad::nn
