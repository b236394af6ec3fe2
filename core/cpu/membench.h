#pragma once
// A plain memory-read benchmark: the bandwidth every thread of the pool reaches summing a
// buffer far larger than the caches. It is the ceiling `bench` compares decode speed to.
#include <cstddef>

#include "cpu/thread_pool.h"

namespace lc {

struct ReadBandwidth {
    double bytes_per_second = 0;  // best of the repetitions
    size_t buffer_bytes = 0;
    int repetitions = 0;
};

ReadBandwidth measure_read_bandwidth(ThreadPool& pool, size_t buffer_bytes = size_t(1) << 30,
                                     int repetitions = 5);

}  // namespace lc
