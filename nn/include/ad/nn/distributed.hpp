// Data-parallel training: the same model on several processes, each computing the gradient on
// its share of every minibatch, the shares' gradients summed before every optimizer step
// (PyTorch's DistributedDataParallel, Horovod). docs/distributed.md is the guide.
//
// A Communicator is the group of processes ("ranks") that train together. This header has the
// interface and the one-process communicator; mpi.hpp has MPI's (ad::nn_mpi, built with
// AD_WITH_MPI, which keeps <mpi.h> out of every public header). Hand one to fit with
// FitOptions::comm (or Trainer::set_communicator) and fit
//   - broadcasts rank 0's weights (every tensor of model.state()) so every rank starts identical;
//   - checks that every rank trains the same thing (rows, features, a hash of x and y, batch
//     size, epochs, seed, parameter count, loss) and names the first difference;
//   - splits every global minibatch (the same batches in the same order as one process with the
//     same seed) into contiguous shares, rank r taking rows [m r / p, m (r + 1) / p) of a batch
//     of m rows; each rank records only its rows;
//   - after each backward sweep packs every parameter's gradient, weighted by the share's rows,
//     with the share's loss and row count into ONE reused contiguous buffer, sums it over the
//     ranks with ONE allreduce, and divides by the batch's rows: the mean-loss gradient of the
//     whole batch, the same on every rank; clipping and the optimizer then run identically on
//     every rank (a rank with no rows in a batch sends zeros and still takes part);
//   - sums the epoch's accuracy (or R^2) counts over the ranks, so every rank holds the global
//     figures; only rank 0 prints progress.
//
//   ad::nn::MpiSession mpi(argc, argv);             // mpi.hpp: MPI_Init, MPI_Finalize
//   ad::nn::fit(net, opt, x, y, {.epochs = 100, .batch_size = 100, .comm = &mpi.world()});
//   if (mpi.world().rank() == 0) ad::nn::save(net, "digits.model");
#pragma once

#include <ad/error.hpp>
#include <ad/nn/module.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace ad::nn {

/// Raised on every rank at once, with the same message, when the ranks find together that they
/// cannot go on (a rank could not load its data, their configurations differ): a program can
/// print it on rank 0 and let every rank end normally. Any other exception happens on one rank
/// only: end the job with Communicator::abort, or the other ranks wait in their next collective.
struct CollectiveError : Error {
  explicit CollectiveError(const std::string& message, int exit_code = 1) : Error(message), exit_code(exit_code) {}
  int exit_code;  // what a command should exit with (2 for a usage error on some rank)
};

/// A group of processes that train together. Every call is collective: every rank of the group
/// must make it, in the same order, with buffers of the same size.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool root() const { return rank() == 0; }
  /// In place: every rank's buffer becomes the element-wise sum over the ranks.
  virtual void allreduce_sum(std::span<double> data) = 0;
  virtual void allreduce_sum(std::span<float> data) = 0;
  /// In place: the element-wise maximum over the ranks.
  virtual void allreduce_max(std::span<double> data) = 0;
  /// In place: every rank's buffer becomes `root`'s.
  virtual void broadcast(std::span<double> data, int root = 0) = 0;
  virtual void broadcast(std::span<float> data, int root = 0) = 0;
  /// Every rank's string, indexed by rank (the strings may differ in length).
  virtual std::vector<std::string> allgather(const std::string& mine) = 0;
  virtual void barrier() = 0;
  /// Ends every rank of the job now, after printing `message` on this rank's stderr: the way out
  /// of an error that the other ranks cannot know about. Does not return.
  [[noreturn]] virtual void abort(const std::string& message, int exit_code = 1) = 0;
};

/// One process: rank 0 of 1; the reductions leave the buffers as they are.
class SelfCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(std::span<double>) override {}
  void allreduce_sum(std::span<float>) override {}
  void allreduce_max(std::span<double>) override {}
  void broadcast(std::span<double>, int) override {}
  void broadcast(std::span<float>, int) override {}
  std::vector<std::string> allgather(const std::string& mine) override { return {mine}; }
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message, int exit_code = 1) override;
};

/// The process-wide one-process communicator.
SelfCommunicator& self_communicator();

/// Rows [first, second) of a batch of `rows` rows that rank `rank` of `size` takes: contiguous
/// shares whose sizes differ by at most one, rank 0's first (empty when rows < size).
std::pair<std::size_t, std::size_t> share_of(std::size_t rows, int rank, int size);

/// 64-bit hash of bytes (FNV-1a over 8-byte words): data and weights compared across ranks.
std::uint64_t hash_bytes(const void* data, std::size_t bytes, std::uint64_t seed = 0);

/// Every rank's copy of every tensor in model.state() (weights, biases, running statistics)
/// becomes rank 0's.
template <class T>
void broadcast_state(Communicator& comm, Module<T>& model);

/// Hash of every tensor of model.state(), bit for bit.
template <class T>
std::uint64_t state_hash(Module<T>& model);

/// CollectiveError (on every rank) unless every rank's model.state() is bitwise rank 0's;
/// the message names the ranks that differ.
template <class T>
void check_replicas(Communicator& comm, Module<T>& model, const std::string& who = "check_replicas");

/// Named settings that every rank must share, compared in one allgather: `what` (name, value)
/// pairs in the same order on every rank. CollectiveError naming the first setting that differs
/// with its value on that rank and on rank 0, e.g.
///   "nn-train: the ranks disagree: rank 1 has --layers 64,40,10, rank 0 has 64,50,10".
/// `who` starts the message ("who: "); empty: nothing (also in check_replicas).
void check_same(Communicator& comm, const std::string& who,
                const std::vector<std::pair<std::string, std::string>>& what);

/// Has every rank succeeded? `error` is this rank's message (empty: it succeeded). One
/// allgather; if any rank failed, CollectiveError on every rank naming each failed rank and its
/// message ("rank 1: data.csv: cannot open the file"), with exit code `exit_code` of the first
/// failed rank (each rank passes its own).
void agree(Communicator& comm, const std::string& error, int exit_code = 1);

struct FitOptions;
class DataRef;

namespace detail {
/// fit's start on more than one rank: check_same over the data (shapes and hashes of x, y and
/// the validation set) and the options, broadcast_state from rank 0, and every Dropout layer of
/// a Sequential reseeded per rank (each rank draws its own masks for its own rows).
template <class T>
void start_data_parallel(Communicator& comm, Module<T>& model, DataRef x, DataRef y, const FitOptions& o,
                         const std::string& optimizer, double lr);
/// The model's tensors that are not parameters (BatchNorm1d's running statistics, updated from
/// each rank's share): replaced by their mean over the ranks, so every rank holds the same model.
template <class T>
void average_buffers(Communicator& comm, Module<T>& model);
}  // namespace detail

extern template void broadcast_state<float>(Communicator&, Module<float>&);
extern template void broadcast_state<double>(Communicator&, Module<double>&);
extern template std::uint64_t state_hash<float>(Module<float>&);
extern template std::uint64_t state_hash<double>(Module<double>&);
extern template void check_replicas<float>(Communicator&, Module<float>&, const std::string&);
extern template void check_replicas<double>(Communicator&, Module<double>&, const std::string&);
extern template void detail::start_data_parallel<float>(Communicator&, Module<float>&, DataRef, DataRef,
                                                        const FitOptions&, const std::string&, double);
extern template void detail::start_data_parallel<double>(Communicator&, Module<double>&, DataRef, DataRef,
                                                         const FitOptions&, const std::string&, double);
extern template void detail::average_buffers<float>(Communicator&, Module<float>&);
extern template void detail::average_buffers<double>(Communicator&, Module<double>&);

}  // namespace ad::nn
