#pragma once
// Opening a model: the one way every front end (CLI, app, benches, tests) turns a folder and a
// few options into a model that can chat. The device is checked here (engine/backend_factory.h)
// and a GPU that cannot be used falls back to the CPU with the reason in `notice`.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "engine/backend_factory.h"
#include "engine/model.h"
#include "formats/chat_template.h"
#include "formats/tokenizer.h"

namespace lc {

struct OpenOptions {
    std::filesystem::path
        path;  // a model folder or .gguf file; empty: the default model (session/model_locator.h)
    std::filesystem::path source_models;  // where a development build finds the bundled model
    Device device = Device::Cpu;
    int threads = 0;    // 0: every hardware thread
    int max_batch = 0;  // prefill chunk; 0: the device's default (64 on the CPU, 256 on a GPU)
    AttentionMode attention = AttentionMode::Absorbed;
    bool load_tokenizer = true;  // false: the model alone (token-id commands, benches)
    // Called as loading goes on: percent done and the step in words.
    std::function<void(int percent, const std::string& step)> progress;
};

// A loaded model with what a chat needs from its folder.
struct OpenedModel {
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tokenizer;  // null when not asked for
    ChatTemplate chat = ChatTemplate::plain_default();
    std::string notice;  // why the device asked for is not the one in use; empty when it is
    bool on_gpu() const;
    // The folder's name, e.g. "latentchat-stories-13m" (also for "dir/" paths).
    std::string name() const;
};

// Throws lc::Error naming the folder or file and what is wrong with it.
OpenedModel open_model(const OpenOptions& options);

// The model folder `options` names, or the default one; throws when there is none.
std::filesystem::path model_path(const OpenOptions& options);

}  // namespace lc
