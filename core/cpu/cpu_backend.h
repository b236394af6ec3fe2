#pragma once
// The CPU backend: the reference implementation of engine/backend.h's operations.
#include <memory>

#include "engine/backend.h"

namespace lc {

// `threads` 0: every hardware thread.
std::unique_ptr<Backend> make_cpu_backend(int threads);

}  // namespace lc
