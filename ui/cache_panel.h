#pragma once
// The cache panel: a Qt Charts plot of the bytes the latent cache holds as tokens stream in
// (allocated and live, solid) next to what MHA, GQA and MQA of the same model would need
// (dashed), the ratio in large type, a per-layer breakdown and the context-window fill.
// Every figure comes from the engine's CacheStats; the panel computes no formula of its own
// beyond the free-memory estimate.
#include <QString>
#include <QWidget>

#include "engine/kv_cache.h"

class QLabel;
QT_BEGIN_NAMESPACE
class QChartView;
class QLineSeries;
class QLogValueAxis;
class QValueAxis;
QT_END_NAMESPACE

namespace lc::ui {

class CachePanel : public QWidget {
    Q_OBJECT

public:
    explicit CachePanel(QWidget* parent = nullptr);

    // Clears the plot for a new model or conversation; `shape` is a CacheStats with 0 tokens.
    // `device_free_bytes`: GPU memory free when the model was loaded, where the cache lives on
    // a GPU (0: host memory). `remote_note`: the model runs on a remote engine, and this says
    // where the estimate comes from (or, with an empty shape, why there is none); the free-memory
    // figures of this machine are then left out.
    void reset(const lc::CacheStats& shape, double device_free_bytes = 0,
               const QString& remote_note = QString());
    // Adds the cache's state after some tokens (one point per series at x = stats.tokens).
    void add_sample(const lc::CacheStats& stats);

    // For tests and screenshots.
    const QLineSeries* allocated_series() const { return allocated_; }
    const QLineSeries* live_series() const { return live_; }
    const QLineSeries* mha_series() const { return mha_; }
    const QLineSeries* gqa_series() const { return gqa_; }
    const QLineSeries* mqa_series() const { return mqa_; }
    QString ratio_text() const;
    QString context_text() const;

private:
    void rescale();
    void update_labels(const lc::CacheStats& stats);
    // What the cache may still grow into: MemAvailable (re-read at most once a second), or the
    // GPU memory free at load less the pages allocated since.
    double free_memory_bytes(const lc::CacheStats& stats);

    QChartView* view_ = nullptr;
    QLineSeries *allocated_ = nullptr, *live_ = nullptr, *mha_ = nullptr, *gqa_ = nullptr,
                *mqa_ = nullptr;
    QValueAxis *x_axis_ = nullptr, *y_axis_ = nullptr;
    QLabel *ratio_ = nullptr, *layers_ = nullptr, *context_ = nullptr;
    QLogValueAxis* y_log_ = nullptr;  // the series' y axis; y_axis_ labels it in byte units
    double free_bytes_ = 0;
    qint64 free_bytes_read_ms_ = -1;
    double device_free_bytes_ = 0;  // 0: the cache lives in host memory
    QString remote_note_;           // non-empty: a remote engine's model (see reset())
};

// "1.2 GiB", "21 MiB", "512 B".
QString format_bytes(double bytes);

}  // namespace lc::ui
