#pragma once
// A fixed set of worker threads for data-parallel loops (matrix rows, attention heads).
// parallel_for does not allocate, so it is safe in the decode loop.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace lc {

class ThreadPool {
public:
    explicit ThreadPool(int n_threads = 0);  // 0: one per hardware thread
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; }  // + the caller

    // Calls fn(begin, end) on disjoint ranges covering [0, n), each at least `grain` long
    // (except the last), spread over all threads including the caller; returns when all are done.
    template <class F>
    void parallel_for(int64_t n, int64_t grain, F&& fn) {
        if (n <= 0) return;
        auto trampoline = [](void* ctx, int64_t b, int64_t e) { (*static_cast<F*>(ctx))(b, e); };
        run(n, grain, trampoline, static_cast<void*>(&fn));
    }

private:
    using RangeFn = void (*)(void*, int64_t, int64_t);
    void run(int64_t n, int64_t grain, RangeFn fn, void* ctx);
    void worker_loop();
    void work_on_current_job();

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    // The current job; one at a time (run() is not re-entrant).
    RangeFn job_fn_ = nullptr;
    void* job_ctx_ = nullptr;
    int64_t job_n_ = 0;
    int64_t job_chunk_ = 0;
    std::atomic<int64_t> next_chunk_{0};
    int busy_workers_ = 0;
    uint64_t generation_ = 0;
    bool stopping_ = false;
};

}  // namespace lc
