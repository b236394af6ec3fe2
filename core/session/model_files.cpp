#include "session/model_files.h"

#include "formats/gguf.h"
#include "formats/safetensors.h"

namespace lc {

namespace {

void count_matrices(ModelFiles& m) {
    int64_t weights = 0;
    int64_t bytes = 0;
    auto add = [&](const WeightMatrix& w) {
        if (w.rows == 0) return;
        m.matrix_types[dtype_name(w.dtype)] += 1;
        weights += w.rows * w.cols;
        bytes += w.bytes();
    };
    const ModelWeights& w = m.weights;
    add(w.embed);
    if (w.lm_head.data != w.embed.data || w.lm_head.dtype != w.embed.dtype) add(w.lm_head);
    for (const LayerWeights& L : w.layers) {
        for (const WeightMatrix* x : {&L.q_proj, &L.q_a_proj, &L.q_b_proj, &L.kv_a_proj,
                                      &L.kv_b_proj, &L.o_proj, &L.router})
            add(*x);
        for (const FeedForwardWeights* f : {&L.dense, &L.shared}) {
            add(f->gate);
            add(f->up);
            add(f->down);
        }
        for (const FeedForwardWeights& e : L.experts) {
            add(e.gate);
            add(e.up);
            add(e.down);
        }
    }
    m.bits_per_weight =
        weights ? 8.0 * static_cast<double>(bytes) / static_cast<double>(weights) : 0.0;
}

}  // namespace

ModelFiles inspect_model(const std::filesystem::path& path) {
    ModelFiles m;
    m.path = path;
    if (is_gguf_path(path)) {
        const GgufFile file = GgufFile::open(path);
        m.gguf = true;
        m.config = ModelConfig::from_gguf(file);
        m.weights = ModelWeights::bind_gguf(m.config, file, BindMode::CheckOnly);
        for (const GgufTensor& t : file.tensors()) {
            int64_t n = 1;
            for (int64_t d : t.shape)
                n *= d;
            m.parameters += n;
        }
        m.file_bytes = file.tensor_bytes();
        count_matrices(m);  // while the file is mapped
    } else {
        m.config = ModelConfig::load(path);
        const SafetensorsArchive archive = SafetensorsArchive::open_dir(path);
        m.weights = ModelWeights::bind(m.config, archive, BindMode::CheckOnly);
        for (const std::string& name : archive.names())
            m.parameters += archive.get(name).numel();
        m.file_bytes = archive.tensor_bytes();
        count_matrices(m);
    }
    return m;
}

}  // namespace lc
