// MPI for data-parallel training (distributed.hpp, docs/distributed.md): the library ad::nn_mpi.
//
// MpiSession starts MPI when the program was started by mpirun (or another MPI launcher) and
// ends it when it goes out of scope; world() is then the communicator of every process of the
// job. Outside mpirun -- or when the library was built without MPI (cmake -DAD_WITH_MPI=OFF) --
// world() is the one-process communicator and the same program trains as before. <mpi.h> stays
// inside the library: a program using this header needs no MPI include path.
//
//   int main(int argc, char** argv) {
//     ad::nn::MpiSession mpi(&argc, &argv);
//     ad::nn::Communicator& world = mpi.world();   // rank(), size(), allreduce_sum, ...
//     ...
//   }
#pragma once

#include <ad/nn/distributed.hpp>

#include <memory>

namespace ad::nn {

/// True when the library was built with MPI (AD_WITH_MPI).
bool mpi_built();

/// The number of processes of the MPI job this process was started in, read from the launcher's
/// environment (OMPI_COMM_WORLD_SIZE of Open MPI, PMI_SIZE of MPICH and Intel MPI,
/// PMIX_SIZE); 0 when it was not started by an MPI launcher.
int mpi_launch_size();

/// MPI_Init on construction (when `start`), MPI_Finalize on destruction (when this session
/// started MPI). start defaults to "started by an MPI launcher": a program run on its own does
/// not start MPI (Open MPI's singleton start-up costs time and needs its daemons).
/// Built without MPI but started by a launcher with more than one process: IoError (each
/// process would train alone and write the same files).
class MpiSession {
 public:
  explicit MpiSession(int* argc = nullptr, char*** argv = nullptr, bool start = mpi_launch_size() > 0);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  /// Every process of the job (a duplicate of MPI_COMM_WORLD with errors returned as
  /// exceptions), or the one-process communicator when MPI was not started.
  Communicator& world() { return *world_; }
  bool started() const { return started_; }

 private:
  std::unique_ptr<Communicator> world_;
  bool started_ = false;
};

}  // namespace ad::nn
