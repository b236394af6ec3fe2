// Weights live on the GPU in their stored dtype, the latent cache in bf16 pages, activations in
// f32; every op is a launch on one stream, and a decode step is one CUDA graph replay.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "elementwise.cuh"
#include "gemv.cuh"
#include "matmul.cuh"
#include "mla_attention.cuh"
#include "moe.cuh"
#include "quant_gemv.cuh"
#include "quant_moe.cuh"
#include "quant_upload.cuh"
#include "rope.cuh"
#include "sampling.cuh"

namespace lc::cuda {
namespace {

std::string gigabytes(size_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f GB", bytes / 1e9);
    return text;
}

// Pages of the latent cache, recycled instead of returned (cudaFree synchronizes the device).
class DevicePageAllocator final : public PageAllocator {
public:
    ~DevicePageAllocator() override {
        for (void* p : free_)
            cudaFree(p);
    }
    void* allocate(size_t bytes) override {
        if (bytes == bytes_ && !free_.empty()) {
            void* p = free_.back();
            free_.pop_back();
            return p;
        }
        void* p = nullptr;
        if (cudaMalloc(&p, bytes) != cudaSuccess) {
            cudaGetLastError();
            throw Error("the GPU is out of memory for the KV cache (" + gigabytes(bytes) +
                        " more needed); shorten the conversation or use --device cpu");
        }
        if (bytes_ != bytes) {
            for (void* f : free_)
                cudaFree(f);
            free_.clear();
            bytes_ = bytes;
        }
        return p;
    }
    void release(void* page) override { free_.push_back(page); }
    size_t element_bytes() const override { return 2; }
    void copy_out(const void* page_bytes, void* host, size_t bytes) override {
        // The backend's stream does not block the legacy one: let its kernels finish first.
        check(cudaDeviceSynchronize(), "reading the cache");
        check(cudaMemcpy(host, page_bytes, bytes, cudaMemcpyDeviceToHost), "reading the cache");
    }
    void copy_in(void* page_bytes, const void* host, size_t bytes) override {
        check(cudaMemcpy(page_bytes, host, bytes, cudaMemcpyHostToDevice), "writing the cache");
    }

private:
    size_t bytes_ = 0;
    std::vector<void*> free_;
};

struct MoeLayer {
    ExpertTable table;
    int intermediate = 0;
    bool quantized = false;  // then qtable, not table
    QuantExpertTable qtable;
};

// Quantized weights are uploaded through a device buffer of this size, and prefill dequantizes
// them into two F16 buffers of at most this many elements (slices of rows).
constexpr size_t kStagingBytes = size_t(32) << 20;
constexpr int64_t kDequantElems = int64_t(16) << 20;

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(int device) : device_(device) {
        check(cudaSetDevice(device), "cudaSetDevice");
        cudaDeviceProp prop{};
        check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
        sms_ = prop.multiProcessorCount;
        name_ = std::string("cuda (") + prop.name + ")";
        check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
        check(cudaMallocHost(&sample_out_host_, sizeof(SampleOutput)), "cudaMallocHost");
        const char* graphs = std::getenv("LATENTCHAT_CUDA_GRAPHS");
        graphs_enabled_ = !(graphs && std::strcmp(graphs, "0") == 0);
    }

    ~CudaBackend() override {
        cudaStreamSynchronize(stream_);
        for (auto& [key, exec] : graphs_)
            cudaGraphExecDestroy(exec);
        for (void* p : allocations_)
            cudaFree(p);
        cudaFreeHost(sample_out_host_);
        cudaStreamDestroy(stream_);
    }

    const char* name() const override { return name_.c_str(); }
    int threads() const override { return 1; }

    void upload(ModelWeights& w, const ModelConfig& c, int max_batch) override;
    void begin_chunk(const LatentCache& cache, int first_position, const int* ids, int n) override;
    bool replay_step(int key) override;
    void record_begin(int key) override;
    void record_end() override;
    bool sample(float* logits, int vocab, const SamplingParams& params, std::span<const int> recent,
                double uniform, int* id, bool* penalized) override;
    void synchronize() override { check(cudaStreamSynchronize(stream_), "synchronize"); }
    size_t device_memory_free() override {
        size_t free_bytes = 0, total = 0;
        check(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo");
        return free_bytes;
    }

    float* alloc(size_t n_floats) override {
        return static_cast<float*>(device_alloc(std::max<size_t>(n_floats, 1) * sizeof(float)));
    }
    PageAllocator& cache_pages() override { return pages_; }
    void to_host(const float* src, float* dst, size_t n) override {
        check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream_),
              "copying to the host");
        synchronize();
    }

    void to_backend(const float* src, float* dst, size_t n) override {
        check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, stream_),
              "copying to the GPU");
        synchronize();
    }

    void embed(const WeightMatrix& table, const int*, int n, float* out) override {
        cuda::embed(table, ids_, n, out, stream_);
    }
    void matmul(const WeightMatrix& w, const float* x, int64_t xs, float* y, int64_t ys,
                int n) override {
        cuda::matmul(w, x, xs, y, ys, n, false, dequant_, stream_);
    }
    void project(const float* x, int64_t xs, const float* norm, float eps, float* xn, int dim,
                 std::span<const Projection> outs, int n) override;
    void matmul_add(const WeightMatrix& w, const float* x, int64_t xs, float* y, int64_t ys,
                    int n) override {
        cuda::matmul(w, x, xs, y, ys, n, true, dequant_, stream_);
    }
    void swiglu(const WeightMatrix& gate, const WeightMatrix& up, const float* x, int64_t xs,
                float* h, int64_t hs, int n) override {
        cuda::matmul_swiglu(gate, up, x, xs, h, hs, n, dequant_, stream_);
    }
    void rms_norm(const float* x, int64_t xs, const float* weight, float eps, float* y, int64_t ys,
                  int n, int dim) override {
        cuda::rms_norm(x, xs, weight, eps, y, ys, n, dim, stream_);
    }
    void rope(float* x, int64_t token_stride, int n_heads, int64_t head_stride, int offset, int,
              int n, const Rope&) override {
        cuda::rope(x, token_stride, n_heads, head_stride, offset, position_, n, rope_, stream_);
    }
    void store_latent(LatentCache&, int layer, int, int n, const float* kv_a, const float* norm,
                      float eps, const Rope&) override {
        cuda::store_latent(paged_, layer, position_, n, kv_a, norm, eps, rope_, stream_);
    }
    void attention(AttentionMode mode, LatentCache& cache, const AttentionArgs& a) override;
    void moe(const ModelConfig& c, const MoeArgs& a) override;

private:
    void* device_alloc(size_t bytes) {
        void* p = nullptr;
        if (cudaMalloc(&p, bytes) != cudaSuccess) {
            cudaGetLastError();
            size_t free_bytes = 0, total = 0;
            cudaMemGetInfo(&free_bytes, &total);
            throw Error("the GPU is out of memory: " + gigabytes(bytes) + " more needed, " +
                        gigabytes(free_bytes) + " free of " + gigabytes(total) +
                        "; use --device cpu or a smaller model");
        }
        // On our stream: a plain cudaMemset runs on the legacy stream, which a non-blocking
        // stream does not wait for, so it could clear a buffer after a kernel wrote it.
        check(cudaMemsetAsync(p, 0, bytes, stream_), "cudaMemsetAsync");
        allocations_.push_back(p);
        return p;
    }
    template <class T>
    T* device_copy(const T* host, size_t n) {
        T* p = static_cast<T*>(device_alloc(std::max<size_t>(n, 1) * sizeof(T)));
        // On our stream, after device_alloc's clearing (a plain cudaMemcpy on the legacy stream
        // could run before it). From pageable memory the call returns once `host` was read.
        if (n)
            check(cudaMemcpyAsync(p, host, n * sizeof(T), cudaMemcpyHostToDevice, stream_),
                  "upload");
        return p;
    }
    void upload_matrix(WeightMatrix& m);
    void upload_quant_moe(MoeLayer& m, const LayerWeights& L);
    void alloc_quant_scratch(const ModelWeights& w, const ModelConfig& c, int max_batch);
    Q8Buffer alloc_q8(int64_t rows, int64_t len);
    void upload_vector(ParamVector& v) {
        if (!v.empty()) v.backend_data = device_copy(v.host.data(), v.size());
    }
    void ensure_page_table(int pages);
    int prefill_splits(int n_tokens, int n_keys) const;

    int device_;
    int sms_ = 1;
    std::string name_;
    cudaStream_t stream_ = nullptr;
    std::vector<void*> allocations_;
    DevicePageAllocator pages_;
    std::unordered_map<const void*, const void*> uploaded_;  // host matrix -> device copy

    // Per-chunk state, on the device so that recorded steps read it when replayed.
    int* position_ = nullptr;  // first position of the chunk
    int* ids_ = nullptr;       // [max_batch]
    int max_batch_ = 0;
    void** page_table_ = nullptr;
    int page_table_capacity_ = 0;
    std::vector<void*> page_snapshot_;
    PagedCache paged_;
    RopeTable rope_;

    MlaShape mla_;
    MlaScratch mla_scratch_;
    int decode_splits_ = 1;

    std::vector<MoeLayer> moe_layers_;
    RoutingParams routing_;
    int* moe_ids_ = nullptr;           // [max_batch * k]
    float* moe_weights_ = nullptr;     // [max_batch * k]
    float* moe_hidden_ = nullptr;      // [max_batch * (k + shared), moe_intermediate]
    unsigned* moe_counter_ = nullptr;  // the router kernel's done-counter
    QuantMoeScratch quant_moe_;        // 8-bit activations of quantized experts
    DequantScratch dequant_;           // prefill's F16 copies of quantized rows
    void* staging_ = nullptr;          // during upload only

    int* recent_ = nullptr;  // [kRecentCapacity] the repetition-penalty window
    static constexpr int kRecentCapacity = 4096;
    SampleOutput* sample_out_ = nullptr;
    SampleOutput* sample_out_host_ = nullptr;

    bool graphs_enabled_ = true;
    bool recording_ = false;
    int recording_key_ = 0;
    std::unordered_map<int, cudaGraphExec_t> graphs_;
};

void CudaBackend::upload_matrix(WeightMatrix& m) {
    if (!m.data || m.rows == 0) return;
    auto found = uploaded_.find(m.data);
    if (found != uploaded_.end()) {  // tied embeddings: one copy
        m.data = found->second;
        m.row_stride = m.cols;
        return;
    }
    if (dtype_is_quantized(m.dtype)) {  // split into fields for coalesced loads (quant_layout.cuh)
        if (!staging_) staging_ = device_alloc(kStagingBytes);
        void* dst = device_alloc(static_cast<size_t>(packed_matrix_bytes(m)));
        upload_packed(m, dst, staging_, kStagingBytes, stream_);
        uploaded_[m.data] = dst;
        m.data = dst;
        m.row_stride = m.cols;
        return;
    }
    const size_t row_bytes = static_cast<size_t>(m.row_bytes());
    auto* dst = static_cast<uint8_t*>(device_alloc(static_cast<size_t>(m.rows) * row_bytes));
    check(cudaMemcpy2DAsync(dst, row_bytes, m.data, static_cast<size_t>(m.stride_bytes()),
                            row_bytes, m.rows, cudaMemcpyHostToDevice, stream_),
          "uploading weights");
    uploaded_[m.data] = dst;
    m.data = dst;
    m.row_stride = m.cols;
}

void CudaBackend::upload(ModelWeights& w, const ModelConfig& c, int max_batch) {
    // Everything the weights need, checked before the first byte is copied.
    size_t need = w.matrix_bytes;
    size_t free_bytes = 0, total = 0;
    check(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo");
    if (need > free_bytes)
        throw Error("the model's weights need " + gigabytes(need) + " of GPU memory, but " +
                    gigabytes(free_bytes) + " of " + gigabytes(total) +
                    " are free; use --device cpu");

    upload_matrix(w.embed);
    upload_matrix(w.lm_head);
    upload_vector(w.final_norm);
    for (LayerWeights& L : w.layers) {
        if (dtype_is_quantized(L.kv_b_proj.dtype))
            throw Error(
                "internal: the GPU's attention reads kv_b_proj unquantized (F32, F16 or BF16)");
        upload_vector(L.input_norm);
        upload_vector(L.post_attention_norm);
        upload_vector(L.q_a_norm);
        upload_vector(L.kv_a_norm);
        upload_vector(L.router_bias);
        for (WeightMatrix* m : {&L.q_proj, &L.q_a_proj, &L.q_b_proj, &L.kv_a_proj, &L.kv_b_proj,
                                &L.o_proj, &L.router})
            upload_matrix(*m);
        for (FeedForwardWeights* f : {&L.dense, &L.shared}) {
            upload_matrix(f->gate);
            upload_matrix(f->up);
            upload_matrix(f->down);
        }
        for (FeedForwardWeights& e : L.experts) {
            upload_matrix(e.gate);
            upload_matrix(e.up);
            upload_matrix(e.down);
        }
    }
    uploaded_.clear();
    if (staging_) {
        synchronize();
        allocations_.erase(std::find(allocations_.begin(), allocations_.end(), staging_));
        cudaFree(staging_);
        staging_ = nullptr;
    }
    alloc_quant_scratch(w, c, max_batch);

    max_batch_ = max_batch;
    position_ = static_cast<int*>(device_alloc(sizeof(int)));
    ids_ = static_cast<int*>(device_alloc(sizeof(int) * max_batch));
    const Rope rope(c);
    rope_.inv_freq = device_copy(rope.inv_freq().data(), rope.inv_freq().size());
    rope_.dim = c.qk_rope_head_dim;
    rope_.interleave = c.rope_interleave;
    rope_.attention_factor = static_cast<float>(c.rope_attention_factor());
    paged_.page_tokens = LatentCache::kDefaultPageTokens;
    paged_.layers = c.num_hidden_layers;
    paged_.d_c = c.kv_lora_rank;
    paged_.d_rope = c.qk_rope_head_dim;
    ensure_page_table(c.max_position_embeddings / paged_.page_tokens + 1);

    mla_ = MlaShape{c.num_attention_heads, c.qk_nope_head_dim, c.qk_rope_head_dim, c.v_head_dim,
                    c.kv_lora_rank};
    prepare_attention(mla_);
    // Decode splits the keys over one block per multiprocessor (each double-buffers its tiles),
    // so one token at long context keeps the whole GPU busy; prefill chunks bring their own
    // parallelism.
    decode_splits_ = sms_;
    const int items = std::max(max_batch, decode_splits_);
    const size_t rows = static_cast<size_t>(items) * mla_.groups() * kHeadsPerGroup;
    mla_scratch_.max_items = items;
    mla_scratch_.q_abs = static_cast<__nv_bfloat16*>(device_alloc(
        static_cast<size_t>(max_batch) * mla_.groups() * kHeadsPerGroup * mla_.width() * 2));
    mla_scratch_.part_o = static_cast<float*>(device_alloc(rows * mla_.d_c * sizeof(float)));
    mla_scratch_.part_ml = static_cast<float*>(device_alloc(rows * 2 * sizeof(float)));
    mla_scratch_.o_lat = static_cast<float*>(
        device_alloc(static_cast<size_t>(max_batch) * mla_.n_heads * mla_.d_c * sizeof(float)));

    routing_ = RoutingParams::from(c);
    moe_layers_.resize(w.layers.size());
    for (size_t l = 0; l < w.layers.size(); ++l) {
        const LayerWeights& L = w.layers[l];
        if (!L.is_moe || L.experts.empty()) continue;
        MoeLayer& m = moe_layers_[l];
        const FeedForwardWeights& e0 = L.experts[0];
        for (const WeightMatrix* q :
             {&e0.gate, &e0.up, &e0.down, &L.shared.gate, &L.shared.up, &L.shared.down})
            if (q->data && dtype_is_quantized(q->dtype)) m.quantized = true;
        if (m.quantized) {  // any GGUF types, each matrix its own (quant_moe.cuh)
            upload_quant_moe(m, L);
            continue;
        }
        std::vector<const void*> gate, up, down;
        for (const FeedForwardWeights& e : L.experts) {
            gate.push_back(e.gate.data);
            up.push_back(e.up.data);
            down.push_back(e.down.data);
        }
        m.table.gate = device_copy(gate.data(), gate.size());
        m.table.up = device_copy(up.data(), up.size());
        m.table.down = device_copy(down.data(), down.size());
        m.table.gate_stride = L.experts[0].gate.row_stride;
        m.table.down_stride = L.experts[0].down.row_stride;
        m.table.dtype = L.experts[0].gate.dtype;
        m.table.bias = L.router_bias.empty() ? nullptr : L.router_bias.data();
        m.intermediate = L.experts[0].intermediate;
        if (L.shared.intermediate > 0) {  // as n_shared experts of the routed size
            if (L.shared.intermediate % m.intermediate != 0)
                throw Error("the shared experts' size is not a multiple of the routed experts'");
            m.table.shared_gate = L.shared.gate.data;
            m.table.shared_up = L.shared.up.data;
            m.table.shared_down = L.shared.down.data;
            m.table.shared_gate_stride = L.shared.gate.row_stride;
            m.table.shared_down_stride = L.shared.down.row_stride;
            m.table.n_shared = L.shared.intermediate / m.intermediate;
        }
    }
    const size_t pairs = static_cast<size_t>(max_batch) * std::max(1, c.num_experts_per_tok);
    const int shared = c.moe_intermediate_size > 0 ? std::max(0, c.n_shared_experts)
                                                   : 0;  // virtual experts the shared ones become
    moe_ids_ = static_cast<int*>(device_alloc(pairs * sizeof(int)));
    moe_counter_ = static_cast<unsigned*>(device_alloc(sizeof(unsigned)));
    moe_weights_ = static_cast<float*>(device_alloc(pairs * sizeof(float)));
    moe_hidden_ =
        static_cast<float*>(device_alloc((pairs + static_cast<size_t>(max_batch) * shared) *
                                         std::max(1, c.moe_intermediate_size) * sizeof(float)));

    recent_ = static_cast<int*>(device_alloc(kRecentCapacity * sizeof(int)));
    sample_out_ = static_cast<SampleOutput*>(device_alloc(sizeof(SampleOutput)));
    synchronize();
}

void CudaBackend::upload_quant_moe(MoeLayer& m, const LayerWeights& L) {
    std::vector<const uint8_t*> gate, up, down;
    const FeedForwardWeights& e0 = L.experts[0];
    for (const FeedForwardWeights& e : L.experts) {
        if (e.gate.dtype != e0.gate.dtype || e.up.dtype != e0.up.dtype ||
            e.down.dtype != e0.down.dtype || e.intermediate != e0.intermediate)
            throw Error("the routed experts of one layer differ in type or size");
        gate.push_back(static_cast<const uint8_t*>(e.gate.data));
        up.push_back(static_cast<const uint8_t*>(e.up.data));
        down.push_back(static_cast<const uint8_t*>(e.down.data));
    }
    QuantExpertTable& t = m.qtable;
    t.gate = device_copy(gate.data(), gate.size());
    t.up = device_copy(up.data(), up.size());
    t.down = device_copy(down.data(), down.size());
    t.gate_type = e0.gate.dtype;
    t.up_type = e0.up.dtype;
    t.down_type = e0.down.dtype;
    t.intermediate = e0.intermediate;
    t.bias = L.router_bias.empty() ? nullptr : L.router_bias.data();
    if (L.shared.intermediate > 0) {
        t.shared_gate = static_cast<const uint8_t*>(L.shared.gate.data);
        t.shared_up = static_cast<const uint8_t*>(L.shared.up.data);
        t.shared_down = static_cast<const uint8_t*>(L.shared.down.data);
        t.shared_gate_type = L.shared.gate.dtype;
        t.shared_up_type = L.shared.up.dtype;
        t.shared_down_type = L.shared.down.dtype;
        t.shared_inter = L.shared.intermediate;
    }
    m.intermediate = e0.intermediate;
}

Q8Buffer CudaBackend::alloc_q8(int64_t rows, int64_t len) {
    Q8Buffer b;
    b.len = len;
    b.q = static_cast<int8_t*>(device_alloc(static_cast<size_t>(rows * len)));
    b.d = static_cast<float*>(device_alloc(static_cast<size_t>(rows * (len / 32)) * 4));
    b.s = static_cast<int*>(device_alloc(static_cast<size_t>(rows * (len / 16)) * 4));
    return b;
}

// The buffers quantized weights need, sized once: F16 slices for prefill products and the
// 8-bit activations of quantized experts.
void CudaBackend::alloc_quant_scratch(const ModelWeights& w, const ModelConfig& c, int max_batch) {
    int64_t widest = 0, largest = 0;
    auto visit = [&](const WeightMatrix& m) {
        if (!m.data || !dtype_is_quantized(m.dtype)) return;
        widest = std::max(widest, m.cols);
        largest = std::max(largest, m.rows * m.cols);
    };
    visit(w.lm_head);
    for (const LayerWeights& L : w.layers) {
        for (const WeightMatrix* m : {&L.q_proj, &L.q_a_proj, &L.q_b_proj, &L.kv_a_proj,
                                      &L.kv_b_proj, &L.o_proj, &L.router})
            visit(*m);
        for (const FeedForwardWeights* f : {&L.dense, &L.shared})
            for (const WeightMatrix* m : {&f->gate, &f->up, &f->down})
                visit(*m);
    }
    // Experts' products never go through the F16 slices; a matrix of the widest kind might.
    if (widest > 0) {
        const int64_t elems = std::max(widest * 64, std::min(largest, kDequantElems));
        dequant_.elems = elems;
        dequant_.gate = static_cast<__half*>(device_alloc(static_cast<size_t>(elems) * 2));
        dequant_.up = static_cast<__half*>(device_alloc(static_cast<size_t>(elems) * 2));
    }
    int64_t slots = 0, inter = 0;
    bool quant_experts = false;
    for (const LayerWeights& L : w.layers) {
        if (!L.is_moe || L.experts.empty()) continue;
        const FeedForwardWeights& e0 = L.experts[0];
        for (const WeightMatrix* q :
             {&e0.gate, &e0.up, &e0.down, &L.shared.gate, &L.shared.up, &L.shared.down})
            if (q->data && dtype_is_quantized(q->dtype)) quant_experts = true;
        const int I = e0.intermediate;
        const int64_t shared = I > 0 ? (L.shared.intermediate + I - 1) / I : 0;
        slots = std::max<int64_t>(slots, c.num_experts_per_tok + shared);
        inter = std::max<int64_t>(inter, I);
    }
    if (quant_experts && inter % 32 == 0 && c.hidden_size % 32 == 0) {
        quant_moe_.x = alloc_q8(max_batch, c.hidden_size);
        quant_moe_.h = alloc_q8(max_batch * slots, inter);
    }
}

void CudaBackend::ensure_page_table(int pages) {
    if (pages <= page_table_capacity_) return;
    const int capacity = std::max(pages, 2 * page_table_capacity_);
    page_table_ = static_cast<void**>(device_alloc(capacity * sizeof(void*)));
    page_table_capacity_ = capacity;
    paged_.pages = page_table_;
    page_snapshot_.clear();
    // Recorded steps point at the old table.
    for (auto& [key, exec] : graphs_)
        cudaGraphExecDestroy(exec);
    graphs_.clear();
}

void CudaBackend::begin_chunk(const LatentCache& cache, int first_position, const int* ids, int n) {
    if (n > max_batch_) throw Error("internal: chunk larger than the batch buffers");
    ensure_page_table(cache.pages());
    // Only pages that changed since the last chunk travel (usually none, or the newest one).
    const int pages = cache.pages();
    int first_changed = 0;
    while (first_changed < pages && first_changed < static_cast<int>(page_snapshot_.size()) &&
           page_snapshot_[first_changed] == cache.page(first_changed))
        ++first_changed;
    page_snapshot_.resize(pages);
    for (int p = first_changed; p < pages; ++p)
        page_snapshot_[p] = cache.page(p);
    if (first_changed < pages)
        check(cudaMemcpyAsync(page_table_ + first_changed, page_snapshot_.data() + first_changed,
                              (pages - first_changed) * sizeof(void*), cudaMemcpyHostToDevice,
                              stream_),
              "page table");
    // From pageable memory: the call returns once the source has been read.
    check(cudaMemcpyAsync(position_, &first_position, sizeof(int), cudaMemcpyHostToDevice, stream_),
          "position");
    check(cudaMemcpyAsync(ids_, ids, n * sizeof(int), cudaMemcpyHostToDevice, stream_), "ids");
}

bool CudaBackend::replay_step(int key) {
    if (!graphs_enabled_) return false;
    auto found = graphs_.find(key);
    if (found == graphs_.end()) return false;
    check(cudaGraphLaunch(found->second, stream_), "cudaGraphLaunch");
    return true;
}

void CudaBackend::record_begin(int key) {
    if (!graphs_enabled_) return;
    cudaStreamCaptureStatus status;
    check(cudaStreamIsCapturing(stream_, &status), "cudaStreamIsCapturing");
    if (status != cudaStreamCaptureStatusNone) {  // an earlier step failed while recording
        cudaGraph_t broken = nullptr;
        cudaStreamEndCapture(stream_, &broken);
        if (broken) cudaGraphDestroy(broken);
        cudaGetLastError();
    }
    check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "begin capture");
    recording_ = true;
    recording_key_ = key;
}

void CudaBackend::record_end() {
    if (!recording_) return;
    recording_ = false;
    cudaGraph_t graph = nullptr;
    check(cudaStreamEndCapture(stream_, &graph), "end capture");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    check(err, "cudaGraphInstantiate");
    graphs_[recording_key_] = exec;
    check(cudaGraphLaunch(exec, stream_), "cudaGraphLaunch");  // capture did not run the step
}

int CudaBackend::prefill_splits(int n_tokens, int n_keys) const {
    const int by_blocks = std::max(1, decode_splits_ / std::max(1, n_tokens * mla_.groups()));
    const int by_pages =
        (n_keys + LatentCache::kDefaultPageTokens - 1) / LatentCache::kDefaultPageTokens;
    const int by_scratch = std::max(1, mla_scratch_.max_items / n_tokens);
    return std::max(1, std::min({by_blocks, by_pages, by_scratch}));
}

void CudaBackend::project(const float* x, int64_t xs, const float* norm, float eps, float* xn,
                          int dim, std::span<const Projection> outs, int n) {
    // Decode: one launch for the norm and every product of plain weights, one for those of
    // quantized weights (both write the same xn).
    if (n <= kGemvMaxTokens && outs.size() <= static_cast<size_t>(kMaxSegments)) {
        GemvSegment plain[kMaxSegments], quant[kMaxSegments];
        int n_plain = 0, n_quant = 0;
        for (const Projection& p : outs) {
            const bool q =
                dtype_is_quantized(p.w->dtype) || (p.up && dtype_is_quantized(p.up->dtype));
            (q ? quant[n_quant++] : plain[n_plain++]) =
                GemvSegment{p.w, p.up, p.y, p.y_stride, p.accumulate};
        }
        // Checked before anything runs, so that a refusal leaves no product half done.
        const bool quant_ok = n_quant == 0 || (dim % 32 == 0 && n <= quant_gemv_tokens(dim));
        if (quant_ok &&
            (n_plain == 0 || gemv_multi(plain, n_plain, x, xs, norm, eps, xn, n, stream_))) {
            if (n_quant > 0 && !quant_gemv(quant, n_quant, x, xs, norm, eps, xn, n, stream_))
                throw Error("internal: quantized projection refused its shape");
            return;
        }
    }
    const float* in = x;
    int64_t in_stride = xs;
    if (norm) {
        cuda::rms_norm(x, xs, norm, eps, xn, dim, n, dim, stream_);
        in = xn;
        in_stride = dim;
    }
    for (const Projection& p : outs) {
        if (p.up) {
            cuda::matmul_swiglu(*p.w, *p.up, in, in_stride, p.y, p.y_stride, n, dequant_, stream_);
        } else {
            cuda::matmul(*p.w, in, in_stride, p.y, p.y_stride, n, p.accumulate, dequant_, stream_);
        }
    }
}

void CudaBackend::attention(AttentionMode mode, LatentCache& cache, const AttentionArgs& a) {
    const int qk = a.d_nope + a.d_rope;
    if (mode == AttentionMode::Naive) {
        if (a.kv_a) {
            rope(a.q, static_cast<int64_t>(a.n_heads) * qk, a.n_heads, qk, a.d_nope,
                 a.first_position, a.n_tokens, *a.rope);
            store_latent(cache, a.layer, a.first_position, a.n_tokens, a.kv_a, a.kv_norm, a.kv_eps,
                         *a.rope);
        }
        naive_attention(mla_, paged_, a.layer, position_, a.n_tokens, a.q, *a.kv_b, a.scale, a.out,
                        stream_);
        return;
    }
    // A decode step always uses the same split count, so a recorded step fits any context.
    const int splits = a.n_tokens == 1 ? decode_splits_
                                       : prefill_splits(a.n_tokens, a.first_position + a.n_tokens);
    if (a.kv_a) {
        prepare_attention_step(mla_, a.q, *a.kv_b, a.scale, rope_, position_, paged_, a.layer,
                               a.kv_a, a.kv_norm, a.kv_eps, a.n_tokens, mla_scratch_.q_abs,
                               stream_);
    } else {
        absorb_query(mla_, a.q, *a.kv_b, a.scale, a.n_tokens, mla_scratch_.q_abs, stream_);
    }
    attention_splits(mla_, paged_, a.layer, position_, a.n_tokens, splits, mla_scratch_, stream_);
    combine_splits(mla_, *a.kv_b, position_, a.n_tokens, splits, mla_scratch_, a.out, stream_);
}

void CudaBackend::moe(const ModelConfig& c, const MoeArgs& a) {
    const MoeLayer& m = moe_layers_.at(a.layer_index);
    const WeightMatrix& router = a.layer->router;
    if (m.quantized) {
        if (a.n_tokens == 1 && !dtype_is_quantized(router.dtype)) {
            quant_moe_decode(m.qtable, routing_, router, a.x, a.norm, a.eps, a.xn, a.router_logits,
                             c.hidden_size, moe_ids_, moe_weights_, quant_moe_, a.out, stream_,
                             moe_counter_);
            return;
        }
        const Projection logits[] = {
            {&router, nullptr, a.router_logits, c.n_routed_experts, false}};
        project(a.x, c.hidden_size, a.norm, a.eps, a.xn, c.hidden_size, logits, a.n_tokens);
        quant_moe_experts(m.qtable, routing_, a.router_logits, a.xn, c.hidden_size, a.n_tokens,
                          moe_ids_, moe_weights_, quant_moe_, a.out, stream_);
        return;
    }
    if (a.n_tokens == 1 && router.dtype == m.table.dtype) {
        moe_decode(m.table, routing_, router, a.x, a.norm, a.eps, a.xn, a.router_logits,
                   c.hidden_size, m.intermediate, moe_ids_, moe_weights_, moe_hidden_, a.out,
                   moe_counter_, stream_);
        return;
    }
    const Projection logits[] = {{&router, nullptr, a.router_logits, c.n_routed_experts, false}};
    project(a.x, c.hidden_size, a.norm, a.eps, a.xn, c.hidden_size, logits, a.n_tokens);
    moe_experts(m.table, routing_, a.router_logits, c.hidden_size, m.intermediate, a.xn, a.n_tokens,
                moe_ids_, moe_weights_, moe_hidden_, a.out, stream_);
}

bool CudaBackend::sample(float* logits, int vocab, const SamplingParams& params,
                         std::span<const int> recent, double uniform, int* id, bool* penalized) {
    *penalized = false;
    const size_t window =
        params.repetition_penalty == 1.0f
            ? 0
            : std::min(recent.size(), static_cast<size_t>(params.repetition_window));
    if (window > static_cast<size_t>(kRecentCapacity)) return false;
    if (window)
        check(cudaMemcpyAsync(recent_, recent.data() + recent.size() - window, window * sizeof(int),
                              cudaMemcpyHostToDevice, stream_),
              "recent ids");
    cuda::sample(logits, vocab, params, recent_, static_cast<int>(window), uniform, sample_out_,
                 stream_);
    check(cudaMemcpyAsync(sample_out_host_, sample_out_, sizeof(SampleOutput),
                          cudaMemcpyDeviceToHost, stream_),
          "sampled id");
    synchronize();
    *penalized = sample_out_host_->penalized != 0;
    if (sample_out_host_->id < 0) return false;
    *id = sample_out_host_->id;
    return true;
}

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device) {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        cudaGetLastError();
        throw Error(std::string("no usable GPU (") + cudaGetErrorString(err) + ")");
    }
    if (count <= device) throw Error("no usable GPU (no CUDA device found)");
    return std::make_unique<CudaBackend>(device);
}

}  // namespace lc::cuda
