// The communicator-independent parts of data-parallel training: see distributed.hpp. The
// gradient reduction itself sits in Trainer::step (train.cpp), the batch split in EpochLoop.
#include <ad/nn/distributed.hpp>
#include <ad/nn/train.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

namespace ad::nn {

void SelfCommunicator::abort(const std::string& message, int exit_code) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  std::exit(exit_code);
}

SelfCommunicator& self_communicator() {
  static SelfCommunicator self;
  return self;
}

std::pair<std::size_t, std::size_t> share_of(std::size_t rows, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size)
    throw ValueError(fmt::format("share_of: rank {} is not in a group of {}", rank, size));
  const auto r = static_cast<std::size_t>(rank), p = static_cast<std::size_t>(size);
  return {rows * r / p, rows * (r + 1) / p};
}

std::uint64_t hash_bytes(const void* data, std::size_t bytes, std::uint64_t seed) {
  constexpr std::uint64_t prime = 1099511628211ull;
  std::uint64_t h = 14695981039346656037ull ^ seed;
  const auto* p = static_cast<const unsigned char*>(data);
  std::size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * prime;
    h ^= h >> 29;
  }
  for (; i < bytes; ++i) h = (h ^ p[i]) * prime;
  return h ^ (bytes * prime);
}

namespace {
/// "who: " before a message, nothing for an empty who (a command that prints its own name).
std::string prefix(const std::string& who) { return who.empty() ? who : who + ": "; }
}  // namespace

template <class T>
void broadcast_state(Communicator& comm, Module<T>& model) {
  if (comm.size() == 1) return;
  for (auto& [name, a] : model.state()) comm.broadcast(std::span<T>(a->data(), a->size()), 0);
}

template <class T>
std::uint64_t state_hash(Module<T>& model) {
  std::uint64_t h = 0;
  for (auto& [name, a] : model.state()) h = hash_bytes(a->data(), a->size() * sizeof(T), h);
  return h;
}

template <class T>
void check_replicas(Communicator& comm, Module<T>& model, const std::string& who) {
  const auto all = comm.allgather(fmt::format("{:016x}", state_hash(model)));
  std::string differ;
  for (std::size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) differ += fmt::format("{}{}", differ.empty() ? "" : ", ", r);
  if (!differ.empty())
    throw CollectiveError(fmt::format("{}the weights of rank(s) {} differ from rank 0's (hash {} vs {}): the "
                                      "ranks no longer hold the same model",
                                      prefix(who), differ, all[std::stoul(differ.substr(0, differ.find(',')))], all[0]));
}

void check_same(Communicator& comm, const std::string& who, const std::vector<std::pair<std::string, std::string>>& what) {
  if (comm.size() == 1) return;
  // One record per setting, "name\x1fvalue\x1e": names and values never hold these separators.
  std::string mine;
  for (const auto& [k, v] : what) mine += k + '\x1f' + v + '\x1e';
  const auto all = comm.allgather(mine);
  auto parse = [](const std::string& s) {
    std::vector<std::pair<std::string, std::string>> out;
    std::size_t pos = 0;
    while (pos < s.size()) {
      const std::size_t us = s.find('\x1f', pos), rs = s.find('\x1e', pos);
      if (us == std::string::npos || rs == std::string::npos || us > rs) break;
      out.emplace_back(s.substr(pos, us - pos), s.substr(us + 1, rs - us - 1));
      pos = rs + 1;
    }
    return out;
  };
  const auto base = parse(all[0]);
  for (std::size_t r = 1; r < all.size(); ++r) {
    if (all[r] == all[0]) continue;
    const auto other = parse(all[r]);
    for (std::size_t i = 0; i < std::max(base.size(), other.size()); ++i) {
      if (i >= base.size() || i >= other.size())
        throw CollectiveError(fmt::format("{}the ranks disagree: rank {} compares {} settings, rank 0 {} (different "
                                          "versions of the program?)",
                                          prefix(who), r, other.size(), base.size()));
      if (other[i].first != base[i].first)
        throw CollectiveError(fmt::format("{}the ranks disagree: rank {} has setting '{}' where rank 0 has '{}' "
                                          "(different versions of the program?)",
                                          prefix(who), r, other[i].first, base[i].first));
      if (other[i].second != base[i].second)
        throw CollectiveError(fmt::format("{}the ranks disagree: rank {} has {} {}, rank 0 has {}; every rank "
                                          "must train the same model on the same data",
                                          prefix(who), r, base[i].first, other[i].second, base[i].second));
    }
  }
}

void agree(Communicator& comm, const std::string& error, int exit_code) {
  if (comm.size() == 1) {
    if (!error.empty()) throw CollectiveError(error, exit_code);
    return;
  }
  const auto all = comm.allgather(error.empty() ? std::string() : fmt::format("{}\n{}", exit_code, error));
  std::string message;
  int code = 0;
  for (std::size_t r = 0; r < all.size(); ++r) {
    if (all[r].empty()) continue;
    const std::size_t nl = all[r].find('\n');
    if (code == 0) code = std::atoi(all[r].substr(0, nl).c_str());
    message += fmt::format("{}rank {}: {}", message.empty() ? "" : "\n", r, all[r].substr(nl + 1));
  }
  if (!message.empty()) throw CollectiveError(message, code == 0 ? 1 : code);
}

namespace detail {

template <class T>
void start_data_parallel(Communicator& comm, Module<T>& model, DataRef x, DataRef y, const FitOptions& o,
                         const std::string& optimizer, double lr) {
  auto shape = [](DataRef a) {
    std::string s;
    for (auto d : a.shape()) s += fmt::format("{}{}", s.empty() ? "" : "x", d);
    return (s.empty() ? std::string("scalar") : s) + (a.floats() ? " float32" : " float64");
  };
  auto hash = [](DataRef a) {
    return a.visit([](const auto& v) {
      return fmt::format("{:016x}", hash_bytes(v.data(), v.size() * sizeof(*v.data())));
    });
  };
  std::size_t params = 0;
  std::string layers;
  for (auto* p : model.parameters()) {
    params += p->size();
    layers += fmt::format("{}{}:{}", layers.empty() ? "" : " ", p->name, p->size());
  }
  std::vector<std::pair<std::string, std::string>> what = {
      {"x of shape", shape(x)},
      {"y of shape", shape(y)},
      {"x with hash", hash(x)},
      {"y with hash", hash(y)},
      {"parameters", layers},
      {"parameter count", std::to_string(params)},
      {"number type", sizeof(T) == 4 ? "float32" : "float64"},
      {"optimizer", optimizer},
      {"lr", fmt::format("{}", lr)},
      {"loss", loss_name(o.loss)},
      {"batch_size", std::to_string(o.batch_size)},
      {"epochs", std::to_string(o.epochs)},
      {"seed", std::to_string(o.seed)},
      {"shuffle", o.shuffle ? "on" : "off"},
      {"l2", fmt::format("{}", o.l2)},
      {"l1", fmt::format("{}", o.l1)},
      {"clip_norm", fmt::format("{}", o.clip_norm)},
      {"clip_value", fmt::format("{}", o.clip_value)},
      {"patience", std::to_string(o.patience)},
      {"validation data", o.x_val ? shape(*o.x_val) + " " + hash(*o.x_val) : "none"},
      {"validation targets", o.y_val ? shape(*o.y_val) + " " + hash(*o.y_val) : "none"},
  };
  check_same(comm, "fit", what);
  broadcast_state(comm, model);
  if (auto* seq = dynamic_cast<Sequential<T>*>(&model))
    for (std::size_t i = 0; i < seq->size(); ++i)
      if (auto* d = dynamic_cast<Dropout<T>*>(&(*seq)[i]))
        d->reseed(hash_bytes(&i, sizeof i, o.seed * 1000003u + static_cast<std::uint64_t>(comm.rank()) + 1));
}

template <class T>
void average_buffers(Communicator& comm, Module<T>& model) {
  std::set<const void*> params;
  for (auto* p : model.parameters()) params.insert(&p->value);
  for (auto& [name, a] : model.state()) {
    if (params.count(a)) continue;
    comm.allreduce_sum(std::span<T>(a->data(), a->size()));
    for (T& v : *a) v /= static_cast<T>(comm.size());
  }
}

template void start_data_parallel<float>(Communicator&, Module<float>&, DataRef, DataRef, const FitOptions&,
                                         const std::string&, double);
template void start_data_parallel<double>(Communicator&, Module<double>&, DataRef, DataRef, const FitOptions&,
                                          const std::string&, double);
template void average_buffers<float>(Communicator&, Module<float>&);
template void average_buffers<double>(Communicator&, Module<double>&);

}  // namespace detail

template void broadcast_state<float>(Communicator&, Module<float>&);
template void broadcast_state<double>(Communicator&, Module<double>&);
template std::uint64_t state_hash<float>(Module<float>&);
template std::uint64_t state_hash<double>(Module<double>&);
template void check_replicas<float>(Communicator&, Module<float>&, const std::string&);
template void check_replicas<double>(Communicator&, Module<double>&, const std::string&);

}  // namespace ad::nn
