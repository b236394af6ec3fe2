#pragma once
// The settings a conversation generates with: model, system prompt and sampling. The app's
// defaults for new conversations are kept with QSettings.
#include <QMetaType>
#include <QSettings>
#include <QString>

#include "engine/generator.h"
#include "remote_engine_settings.h"

namespace lc::ui {

struct ConversationSettings {
    QString model_dir;  // empty: the bundled model
    QString device = "cpu";
    QString system_prompt;
    double temperature = 0.8;
    double top_p = 0.95;
    int top_k = 40;
    double min_p = 0.05;
    double repetition_penalty = 1.0;
    int max_tokens = 512;
    quint64 seed = 0;
    bool random_seed = true;      // a new seed for every reply
    RemoteEngineSettings remote;  // the engine: the local model, or a remote endpoint

    // Defaults from QSettings (group "defaults"); values out of range fall back to the built-ins.
    static ConversationSettings load_defaults(QSettings& store);
    void save_defaults(QSettings& store) const;
    // The engine's options; `reply_seed` is used when random_seed is set.
    GenerationOptions to_options(quint64 reply_seed) const;
};

}  // namespace lc::ui

Q_DECLARE_METATYPE(lc::ui::ConversationSettings)
