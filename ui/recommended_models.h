#pragma once
// The short built-in list of MLA models worth running, with what the fit check needs written in
// (size, and the cache's shape from each model's config.json or GGUF metadata), so the page can
// say before a download whether a model fits and how long a chat then fits.
#include <QList>
#include <QString>

#include "model_list_model.h"

namespace lc::ui {

// The downloadable ones, then the bundled model when `bundled_dir` holds one (its shape read
// from its config.json, its size from the disk).
QList<ModelEntry> recommended_models(const QString& bundled_dir);

}  // namespace lc::ui
