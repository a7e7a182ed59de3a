// nn-train under mpirun (docs/distributed.md): how the command's errors end a data-parallel job.
//
// Every rank runs the same command. An error that every rank meets together (the ranks found
// that one of them could not load its data, or that their settings differ: CollectiveError; the
// training diverged, which every rank sees in the same global loss: DivergenceError) is printed
// once, by rank 0, and every rank exits with its code after MPI_Finalize. Any other error
// happened on one rank only, while the others may be waiting for it in a collective: that rank
// prints it, naming itself, and MPI_Abort ends every rank of the job.
#pragma once

#include "cli_common.hpp"

#include <ad/nn/distributed.hpp>
#include <ad/nn/train.hpp>

#include <fmt/format.h>

#include <exception>
#include <string>

namespace cli {

template <class Body>
int run_on_ranks(ad::nn::Communicator& comm, const char* tool, Body&& body) {
  if (comm.size() == 1) return body();  // one process: guarded_main's handling, as always
  try {
    return body();
  } catch (const ad::nn::CollectiveError& e) {
    if (comm.root()) fmt::print(stderr, "{}: {}\n", tool, e.what());
    return e.exit_code;
  } catch (const ad::nn::DivergenceError& e) {
    if (comm.root()) fmt::print(stderr, "{}: {}\n", tool, e.what());
    return 1;
  } catch (const UsageError& e) {
    comm.abort(fmt::format("{}: rank {} of {}: {}; ending every rank", tool, comm.rank(), comm.size(), e.message), 2);
  } catch (const std::exception& e) {
    comm.abort(fmt::format("{}: rank {} of {}: {}; ending every rank", tool, comm.rank(), comm.size(), e.what()), 1);
  }
  return 1;  // not reached: abort ends the process
}

/// body() on every rank, then one agreement: if it threw on any rank, every rank throws the same
/// CollectiveError naming each failed rank and its message (exit code 2 for a usage error).
/// One process: body() as it is.
template <class Body>
auto on_every_rank(ad::nn::Communicator& comm, Body&& body) -> decltype(body()) {
  if (comm.size() == 1) return body();
  std::string error;
  int code = 1;
  try {
    auto result = body();
    ad::nn::agree(comm, "");
    return result;
  } catch (const ad::nn::CollectiveError&) {
    throw;
  } catch (const UsageError& e) {
    error = e.message, code = 2;
  } catch (const std::exception& e) {
    error = e.what();
  }
  ad::nn::agree(comm, error, code);
  throw ad::nn::CollectiveError(error, code);  // not reached: agree throws
}

}  // namespace cli
