#pragma once
// MPI for sweeps. `mpirun -np K flashmc sweep FILE.toml` runs one job of K ranks: every rank loads
// the model and the data itself; rank 0 alone reads and writes the output file, decides each
// round's pending units and hands them out one at a time, on request, to the OpenMP threads of
// every rank (its own included); results travel back to rank 0, which stores and checkpoints them.
// Units draw only from their own streams, so the file equals a one-process run's bit for bit
// (timing fields aside).
//
// Rank 0 answers requests from a service thread that polls MPI while its other threads compute,
// so no rank ever waits on rank 0's computation, whatever the network (one-sided atomics over TCP
// progress only when the target enters MPI; a unit can take seconds).
//
// Without MPI (built with -DFLASHMC_MPI=OFF or no MPI found), or when not started by an MPI
// launcher, everything here describes a job of one process and MPI is never initialized.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace flashmc::mc::mpi {

// True when an MPI launcher (mpirun, srun) started this process: OMPI_COMM_WORLD_SIZE, PMI_SIZE
// or PMIX_RANK is set.
bool launched();

// MPI_Init_thread (MPI_THREAD_SERIALIZED) when launched(), MPI_Finalize on destruction. Without
// MPI it refuses to run as one of several launched processes (each would run the whole sweep).
class Session {
public:
    Session();
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
};

int rank();  // this process's rank; 0 without MPI
int size();  // ranks in the job; 1 without MPI
inline bool root() { return rank() == 0; }
[[noreturn]] void abort(int code);  // ends every rank of the job (MPI_Abort); std::exit without MPI

// Rank 0's `v`, on every rank.
void broadcast(std::vector<long>& v);

// A unit's result as sent to rank 0: trivially copyable values and vectors of them, in order.
using Bytes = std::vector<std::byte>;
class Packer {
public:
    template <class T>
    Packer& put(const T& x) {
        static_assert(std::is_trivially_copyable_v<T>);
        const auto* p = reinterpret_cast<const std::byte*>(&x);
        bytes.insert(bytes.end(), p, p + sizeof(T));
        return *this;
    }
    template <class T>
    Packer& put(const std::vector<T>& v) {
        static_assert(std::is_trivially_copyable_v<T>);
        put(static_cast<std::uint64_t>(v.size()));
        const auto* p = reinterpret_cast<const std::byte*>(v.data());
        bytes.insert(bytes.end(), p, p + v.size() * sizeof(T));
        return *this;
    }
    Bytes bytes;
};
class Unpacker {
public:
    explicit Unpacker(std::span<const std::byte> b) : b_(b) {}
    template <class T>
    void get(T& x) {
        static_assert(std::is_trivially_copyable_v<T>);
        std::memcpy(&x, take(sizeof(T)), sizeof(T));
    }
    template <class T>
    void get(std::vector<T>& v) {
        std::uint64_t n = 0;
        get(n);
        v.resize(n);
        std::memcpy(v.data(), take(n * sizeof(T)), n * sizeof(T));
    }

private:
    const std::byte* take(std::size_t n);  // throws when the message is shorter
    std::span<const std::byte> b_;
    std::size_t at_ = 0;
};

// One round of a sweep over every rank: each `pending` unit is evaluated once, on some thread of
// some rank, by `evaluate` (any rank, any thread, concurrently); rank 0 passes each result to
// `finish` (one call at a time), which returns false to stop handing out units (those already
// out still finish). Returns on every rank when all results are at rank 0; at rank 0 the message
// of the first unit that threw, if any (no further units are handed out after it). Call it on
// every rank with the same `pending` (broadcast()).
using EvaluateUnit = std::function<Bytes(long unit)>;
using FinishUnit = std::function<bool(std::span<const std::byte> result)>;
std::optional<std::string> run_round(const std::vector<long>& pending, const EvaluateUnit& evaluate, const FinishUnit& finish);

}  // namespace flashmc::mc::mpi
