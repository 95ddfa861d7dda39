#include "flashmc/mc/mpi.hpp"

#include <cstdlib>

#include "flashmc/core/error.hpp"

#ifdef FLASHMC_HAVE_MPI
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>
#endif

namespace flashmc::mc::mpi {

namespace {
int g_rank = 0, g_size = 1;
}  // namespace

bool launched() { return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK"); }

int rank() { return g_rank; }
int size() { return g_size; }

const std::byte* Unpacker::take(std::size_t n) {
    if (at_ + n > b_.size()) fail("mpi: a unit's result message is shorter than expected (", b_.size(), " bytes)");
    const std::byte* p = b_.data() + at_;
    at_ += n;
    return p;
}

#ifndef FLASHMC_HAVE_MPI

Session::Session() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
        if (const char* s = std::getenv(v); s && std::atoi(s) > 1)
            fail("this flashmc was built without MPI, but an MPI launcher started ", s, " copies of it (", v,
                 "), each of which would run the whole sweep; rebuild with MPI (libopenmpi-dev, -DFLASHMC_MPI=ON) ",
                 "or split the sweep with --shard i/N and flashmc merge");
}
Session::~Session() = default;
void abort(int code) { std::exit(code); }
void broadcast(std::vector<long>&) {}
std::optional<std::string> run_round(const std::vector<long>&, const EvaluateUnit&, const FinishUnit&) {
    fail("mpi: run_round without MPI");
}

#else

namespace {

bool g_initialized = false;  // by a Session of this process

// Messages to rank 0 (a worker thread's request for its next unit, with its last result if any)
// and rank 0's answer (the next unit, or −1: none left in this round).
enum Tag : int { kReady = 1, kResult = 2, kFailed = 3, kDone = 4, kWork = 5 };

// Rank 0's side of one round: the units not yet handed out and the first failure, shared by its
// compute threads and its service thread.
struct RootRound {
    RootRound(const std::vector<long>& p, const FinishUnit& f) : pending(p), finish(f) {}
    const std::vector<long>& pending;
    const FinishUnit& finish;
    std::mutex m;
    std::size_t next = 0;
    bool stopping = false;
    std::optional<std::string> failure;

    long take() {
        std::lock_guard lock(m);
        if (stopping || next >= pending.size()) return -1;
        return pending[next++];
    }
    void store(std::span<const std::byte> result) {
        std::lock_guard lock(m);
        try {
            if (!finish(result)) stopping = true;
        } catch (const std::exception& e) {
            failed(e.what());
        }
    }
    void fail_unit(const std::string& message) {
        std::lock_guard lock(m);
        failed(message);
    }
    void failed(const std::string& message) {  // with m held
        if (!failure) failure = message;
        stopping = true;
    }
};

// Rank 0's service thread: answers the workers until every one has finished the round. It polls
// (MPI_Iprobe with a short sleep) rather than blocking, as a blocked MPI call spins a core.
void serve_workers(RootRound& round) {
    using namespace std::chrono_literals;
    int workers_done = 0;
    auto idle = 20us;
    Bytes buf;
    while (workers_done < g_size - 1) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        if (!flag) {
            std::this_thread::sleep_for(idle);
            idle = std::min<std::chrono::microseconds>(idle * 2, 1000us);
            continue;
        }
        idle = 20us;
        int count = 0;
        MPI_Get_count(&st, MPI_BYTE, &count);
        buf.resize(static_cast<std::size_t>(count));
        MPI_Recv(buf.data(), count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (st.MPI_TAG == kReady || st.MPI_TAG == kResult) {
            const std::int64_t u = round.take();  // answer first: the worker computes while we store
            MPI_Send(&u, 1, MPI_INT64_T, st.MPI_SOURCE, kWork, MPI_COMM_WORLD);
            if (st.MPI_TAG == kResult) round.store(buf);
        } else if (st.MPI_TAG == kFailed) {
            round.fail_unit("rank " + std::to_string(st.MPI_SOURCE) + ": " +
                            std::string(reinterpret_cast<const char*>(buf.data()), buf.size()));
        } else if (st.MPI_TAG == kDone) {
            ++workers_done;
        }
    }
}

std::optional<std::string> run_round_root(const std::vector<long>& pending, const EvaluateUnit& evaluate,
                                          const FinishUnit& finish) {
    RootRound round(pending, finish);
    std::thread service(serve_workers, std::ref(round));
#pragma omp parallel
    for (long u; (u = round.take()) >= 0;) {
        try {
            const Bytes result = evaluate(u);
            round.store(result);
        } catch (const std::exception& e) {
            round.fail_unit(e.what());
        }
    }
    service.join();
    return round.failure;
}

// A worker's threads each loop: send the last result (or a first request), receive the next
// unit, evaluate it. Each thread's send and receive form one critical section, so a thread gets
// the answer to its own request (MPI_THREAD_SERIALIZED).
void run_round_worker(const EvaluateUnit& evaluate) {
#pragma omp parallel
    {
        Bytes msg;
        int tag = kReady;
        for (;;) {
            std::int64_t u = -1;
#pragma omp critical(flashmc_mpi)
            {
                MPI_Send(msg.data(), static_cast<int>(msg.size()), MPI_BYTE, 0, tag, MPI_COMM_WORLD);
                if (tag != kFailed) MPI_Recv(&u, 1, MPI_INT64_T, 0, kWork, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            }
            if (u < 0) break;
            try {
                msg = evaluate(static_cast<long>(u));
                tag = kResult;
            } catch (const std::exception& e) {
                const std::string what = e.what();
                msg.assign(reinterpret_cast<const std::byte*>(what.data()), reinterpret_cast<const std::byte*>(what.data() + what.size()));
                tag = kFailed;
            }
        }
    }
    MPI_Send(nullptr, 0, MPI_BYTE, 0, kDone, MPI_COMM_WORLD);  // after every result of this rank
}

}  // namespace

Session::Session() {
    if (!launched()) return;
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    if (provided < MPI_THREAD_SERIALIZED) {
        MPI_Finalize();
        fail("mpi: the MPI library offers thread support level ", provided, ", below MPI_THREAD_SERIALIZED");
    }
    g_initialized = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
}

Session::~Session() {
    if (!g_initialized) return;
    MPI_Finalize();
    g_initialized = false;
    g_rank = 0;
    g_size = 1;
}

void abort(int code) {
    if (g_initialized) MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
}

void broadcast(std::vector<long>& v) {
    if (g_size == 1) return;
    long n = static_cast<long>(v.size());
    MPI_Bcast(&n, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    v.resize(static_cast<std::size_t>(n));
    MPI_Bcast(v.data(), static_cast<int>(n), MPI_LONG, 0, MPI_COMM_WORLD);
}

std::optional<std::string> run_round(const std::vector<long>& pending, const EvaluateUnit& evaluate, const FinishUnit& finish) {
    if (g_rank == 0) return run_round_root(pending, evaluate, finish);
    run_round_worker(evaluate);
    return std::nullopt;
}

#endif

}  // namespace flashmc::mc::mpi
