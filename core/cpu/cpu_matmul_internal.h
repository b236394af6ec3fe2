#pragma once
// Internals of cpu_matmul.cpp exposed for tests and benchmarks only.

namespace lc {

// true: use the portable (scalar) kernels even where the CPU has AVX2/FMA/F16C, so tests can
// check both paths agree. Process-wide; do not flip while another thread runs a product.
void cpu_matmul_force_portable(bool force);

// True when this CPU (and OS) supports the AVX2/FMA/F16C kernels, whether forced off or not.
bool cpu_matmul_avx2_supported();

}  // namespace lc
