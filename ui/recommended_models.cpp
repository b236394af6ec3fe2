#include "recommended_models.h"

#include <QDirIterator>
#include <QFileInfo>
#include <exception>

#include "formats/config.h"

namespace lc::ui {

namespace {

// DeepSeek-V2-Lite(-Chat): 27 layers, d_c 512, d_rope 64, 163,840 positions (its config.json).
constexpr ModelShape kV2Lite{27, 512, 64, 163840};
// GigaChat3-10B-A1.8B: 26 layers (llama.cpp tells it from V2-Lite by that count), 256K context
// (its model card); the latent and rope widths are V2-Lite's, the layout llama.cpp reads it as.
constexpr ModelShape kGigaChat3Lightning{26, 512, 64, 262144};

ModelEntry remote(const char* title, const char* repo, const char* file, const char* quantization,
                  const char* note, qint64 bytes, ModelShape shape) {
    ModelEntry e;
    e.source = ModelSource::Recommended;
    e.title = QString::fromUtf8(title);
    e.repo = QString::fromUtf8(repo);
    e.file = QString::fromUtf8(file);
    e.quantization = QString::fromUtf8(quantization);
    e.note = QString::fromUtf8(note);
    e.bytes = bytes;
    e.shape = shape;
    return e;
}

qint64 folder_bytes(const QString& dir) {
    qint64 total = 0;
    QDirIterator it(dir, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext())
        total += it.nextFileInfo().size();
    return total;
}

}  // namespace

QList<ModelEntry> recommended_models(const QString& bundled_dir) {
    // Sizes as the hub lists the files; the download checks the real ones.
    QList<ModelEntry> list{
        remote("DeepSeek-V2-Lite-Chat Q4_K_M", "mradermacher/DeepSeek-V2-Lite-Chat-GGUF",
               "DeepSeek-V2-Lite-Chat.Q4_K_M.gguf", "GGUF Q4_K_M",
               "16B MoE, 2.4B active; the smallest good chat model with MLA", 10'400'000'000,
               kV2Lite),
        remote("DeepSeek-V2-Lite-Chat Q8_0", "mradermacher/DeepSeek-V2-Lite-Chat-GGUF",
               "DeepSeek-V2-Lite-Chat.Q8_0.gguf", "GGUF Q8_0",
               "the same model, nearly lossless 8-bit", 16'700'000'000, kV2Lite),
        remote("DeepSeek-V2-Lite-Chat", "deepseek-ai/DeepSeek-V2-Lite-Chat", "", "BF16 safetensors",
               "as published by DeepSeek", 31'400'000'000, kV2Lite),
        remote("GigaChat3-10B-A1.8B Q8_0", "ubergarm/GigaChat3-10B-A1.8B-GGUF",
               "GigaChat3-10B-A1.8B-Q8_0.gguf", "GGUF Q8_0",
               "10B MoE, 1.8B active; Russian and English", 11'400'000'000, kGigaChat3Lightning),
    };
    if (!bundled_dir.isEmpty() && QFileInfo(bundled_dir).isDir()) {
        ModelEntry e;
        e.source = ModelSource::Recommended;
        e.title = QStringLiteral("%1 (bundled)").arg(QFileInfo(bundled_dir).fileName());
        e.quantization = QStringLiteral("BF16 safetensors");
        e.note = QObject::tr("a tiny story model to try the app with");
        e.bytes = folder_bytes(bundled_dir);
        e.bundled = true;
        e.state = DownloadState::Local;
        e.local_path = bundled_dir;
        try {
            const ModelConfig c = ModelConfig::load(bundled_dir.toStdString());
            e.shape = ModelShape{c.num_hidden_layers, c.kv_lora_rank, c.qk_rope_head_dim,
                                 c.max_position_embeddings};
        } catch (const std::exception&) {
            // Shown without a fit; loading it will say what is wrong.
        }
        list << e;
    }
    return list;
}

}  // namespace lc::ui
