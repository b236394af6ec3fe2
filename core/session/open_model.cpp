#include "session/open_model.h"

#include "base/error.h"
#include "session/model_locator.h"

namespace lc {

namespace fs = std::filesystem;

bool OpenedModel::on_gpu() const {
    return model && std::string(model->backend().name()).rfind("cuda", 0) == 0;
}

std::string OpenedModel::name() const {
    if (!model) return {};
    const fs::path& dir = model->dir();
    if (model->gguf()) return dir.stem().string();  // "DeepSeek-V2-Lite-Chat.Q4_K_M"
    std::string n = dir.filename().string();
    return n.empty() ? dir.parent_path().filename().string() : n;  // "dir/" has no filename
}

fs::path model_path(const OpenOptions& options) {
    if (!options.path.empty()) return options.path;
    if (auto bundled = default_model_dir(options.source_models)) return *bundled;
    throw Error("no model was named and no bundled model was found; choose a model folder");
}

OpenedModel open_model(const OpenOptions& options) {
    auto progress = [&](int percent, const char* step) {
        if (options.progress) options.progress(percent, step);
    };
    const fs::path dir = model_path(options);
    progress(0, "Reading config");
    // Model::load reads it too; reading it first names a folder that is no model before any
    // backend (a GPU context) is set up.
    (void)ModelConfig::load(dir);

    OpenedModel opened;
    BackendChoice backend = make_backend(options.device, options.threads);
    opened.notice = std::move(backend.notice);
    const bool gpu = options.device == Device::Cuda && opened.notice.empty();
    std::string step = gpu ? "Copying weights to the GPU" : "Mapping weights";
    if (!opened.notice.empty()) step += " (" + opened.notice + ")";
    progress(30, step.c_str());

    ModelOptions model_options;
    // Prefill chunks: an MoE layer's experts see tokens / experts * k of each chunk, and the CPU's
    // panel kernels want 16 or more (V2-Lite: 48 at 512, 6 at 64, where every expert's weights
    // were read for a handful of tokens). Stop is still seen between layers.
    model_options.max_batch = options.max_batch > 0 ? options.max_batch : gpu ? 256 : 512;
    model_options.attention = options.attention;
    opened.model = Model::load(dir, model_options, std::move(backend.backend));

    if (options.load_tokenizer) {
        progress(70, "Loading tokenizer");
        const ModelConfig& c = opened.model->config();
        const int eos = c.eos_token_ids.empty() ? -1 : c.eos_token_ids.front();
        opened.tokenizer = Tokenizer::load(dir, c.bos_token_id, eos);
        opened.chat = ChatTemplate::load(dir);
    }
    progress(100, "Ready");
    return opened;
}

}  // namespace lc
