// ThreadPool: one job at a time, published by bumping a generation counter.
//
// Fields of the header used as atomics (always through std::atomic_ref, never plainly while
// workers run): generation_ (even: a job is published; odd: the caller is rewriting the job),
// busy_workers_ (how many workers are inside the current job) and stopping_.
//
// run():
//   1. The caller makes generation_ odd, waits until no worker is inside a job (busy == 0),
//      writes the job fields and makes generation_ even again (release), then wakes sleepers.
//   2. A worker that sees a new even generation g registers (busy += 1) and re-reads the
//      generation; if it is still g, the job fields are stable and it takes chunks from
//      next_chunk_ until none are left, then deregisters. The register-then-recheck on the
//      worker side and the make-odd-then-check-busy on the caller side (both seq_cst) mean a
//      worker never reads fields the caller is writing.
//   3. The caller takes chunks too; when they are all taken it waits until busy == 0, at which
//      point every chunk has finished.
// Workers that are slow to wake (asleep, descheduled) never hold the caller up: the caller
// waits only for workers actually inside the job. A late worker that enters a finished job
// finds no chunks and leaves.
//
// run() is not re-entrant: fn must not call parallel_for on the same pool, and only one
// thread may call parallel_for on a pool at a time. An exception thrown by fn on the calling
// thread is rethrown once the workers are done; one thrown on a worker terminates.
#include "cpu/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <exception>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace lc {

static_assert(alignof(uint64_t) >= std::atomic_ref<uint64_t>::required_alignment &&
                  alignof(int) >= std::atomic_ref<int>::required_alignment,
              "ThreadPool's counters must be usable through std::atomic_ref");

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

// How long an idle worker (or the waiting caller) spins before it sleeps. Short enough not to
// waste a core between decode steps, long enough to cover the gap between consecutive
// matrix products of one step.
constexpr auto kSpinTime = std::chrono::microseconds(50);

// Spins until pred() holds or kSpinTime has passed; returns pred()'s last value.
template <class Pred>
bool spin_until(Pred pred) {
    if (pred()) return true;
    const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
    for (;;) {
        for (int i = 0; i < 32; ++i) {
            cpu_relax();
            if (pred()) return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) return pred();
    }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = static_cast<int>(std::thread::hardware_concurrency());
    if (n_threads <= 0) n_threads = 1;
    workers_.reserve(static_cast<size_t>(n_threads - 1));
    for (int i = 1; i < n_threads; ++i)
        workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::atomic_ref<bool>(stopping_).store(true, std::memory_order_seq_cst);
        std::atomic_ref<uint64_t>(generation_).fetch_add(2, std::memory_order_seq_cst);
    }
    wake_.notify_all();
    for (auto& t : workers_)
        t.join();
}

void ThreadPool::work_on_current_job() {
    const int64_t n = job_n_;
    const int64_t chunk = job_chunk_;
    const int64_t n_chunks = (n + chunk - 1) / chunk;
    for (;;) {
        // acq_rel: a claim publishes the claimer's registration in busy_workers_ to the
        // caller, whose last (failed) claim precedes its check that busy_workers_ is 0.
        const int64_t i = next_chunk_.fetch_add(1, std::memory_order_acq_rel);
        if (i >= n_chunks) break;
        const int64_t begin = i * chunk;
        job_fn_(job_ctx_, begin, std::min(n, begin + chunk));
    }
}

void ThreadPool::worker_loop() {
    std::atomic_ref<uint64_t> generation(generation_);
    std::atomic_ref<int> busy(busy_workers_);
    std::atomic_ref<bool> stopping(stopping_);
    uint64_t seen = 0;  // the pool starts at generation 0 with no job
    auto new_job = [&] {
        const uint64_t g = generation.load(std::memory_order_acquire);
        return g != seen && (g & 1) == 0;
    };
    for (;;) {
        if (!spin_until(new_job)) {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, new_job);
        }
        if (stopping.load(std::memory_order_acquire)) return;
        const uint64_t g = generation.load(std::memory_order_seq_cst);
        if ((g & 1) != 0) continue;  // being rewritten: wait for the even generation
        busy.fetch_add(1, std::memory_order_seq_cst);
        if (generation.load(std::memory_order_seq_cst) == g) {
            seen = g;
            work_on_current_job();
        }
        if (busy.fetch_sub(1, std::memory_order_seq_cst) == 1) {
            // Take the mutex so the notification cannot fall between the caller's check of
            // busy_workers_ and its sleep.
            std::lock_guard<std::mutex> lock(mutex_);
            done_.notify_one();
        }
    }
}

void ThreadPool::run(int64_t n, int64_t grain, RangeFn fn, void* ctx) {
    if (grain < 1) grain = 1;
    const int64_t threads = size();
    if (threads == 1 || n <= grain) {
        fn(ctx, 0, n);
        return;
    }
    std::atomic_ref<uint64_t> generation(generation_);
    std::atomic_ref<int> busy(busy_workers_);
    auto idle = [&] { return busy.load(std::memory_order_seq_cst) == 0; };
    auto wait_idle = [&] {
        if (!spin_until(idle)) {
            std::unique_lock<std::mutex> lock(mutex_);
            done_.wait(lock, idle);
        }
    };

    // 1. Odd generation: late workers stay out; wait for any still inside the last job.
    const uint64_t g = generation.load(std::memory_order_relaxed);
    generation.store(g + 1, std::memory_order_seq_cst);
    wait_idle();
    const int64_t per_chunk = (n + threads * 4 - 1) / (threads * 4);
    job_fn_ = fn;
    job_ctx_ = ctx;
    job_n_ = n;
    job_chunk_ = std::max(grain, per_chunk);
    next_chunk_.store(0, std::memory_order_relaxed);
    {
        std::lock_guard<std::mutex> lock(mutex_);  // pairs with the sleepers' predicate check
        generation.store(g + 2, std::memory_order_seq_cst);
    }
    wake_.notify_all();

    // 2. The caller works too. If its part throws, the workers still have to finish (they
    // use ctx, which lives in the caller's frame) before the exception leaves.
    std::exception_ptr error;
    try {
        work_on_current_job();
    } catch (...) {
        next_chunk_.fetch_add(n, std::memory_order_acq_rel);  // hand out no more chunks
        error = std::current_exception();
    }

    // 3. Every chunk is taken; wait until the workers that took some are done.
    wait_idle();
    if (error) std::rethrow_exception(error);
}

}  // namespace lc
