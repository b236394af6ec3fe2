#include "cache_panel.h"

#include <unistd.h>

#include <QCategoryAxis>
#include <QChart>
#include <QChartView>
#include <QDateTime>
#include <QFile>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLegend>
#include <QLineSeries>
#include <QLocale>
#include <QLogValueAxis>
#include <QPainter>
#include <QPen>
#include <QPixmap>
#include <QVBoxLayout>
#include <QValueAxis>
#include <algorithm>
#include <cmath>

namespace lc::ui {

namespace {

// Bytes of host memory still available: MemAvailable from /proc/meminfo, else sysconf.
double available_memory_bytes() {
    QFile meminfo(QStringLiteral("/proc/meminfo"));
    if (meminfo.open(QIODevice::ReadOnly | QIODevice::Text)) {
        while (!meminfo.atEnd()) {
            const QByteArray line = meminfo.readLine();
            if (!line.startsWith("MemAvailable:")) continue;
            const QList<QByteArray> parts = line.simplified().split(' ');
            bool ok = false;
            const double kib = parts.size() >= 2 ? parts[1].toDouble(&ok) : 0.0;
            if (ok) return kib * 1024.0;
        }
    }
    const long pages = sysconf(_SC_AVPHYS_PAGES);
    const long page_size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page_size > 0) return static_cast<double>(pages) * page_size;
    return 0.0;
}

// "950", "12 k", "2.1 M", "3.4 G" (two significant digits past 10, one decimal below).
QString format_count(double n) {
    static const char* const kSuffixes[] = {"", " k", " M", " G", " T"};
    int unit = 0;
    while (std::abs(n) >= 999.5 && unit < 4) {
        n /= 1000.0;
        ++unit;
    }
    if (unit == 0) return QLocale().toString(static_cast<qlonglong>(std::llround(n)));
    const int decimals = std::abs(n) < 9.95 ? 1 : 0;
    return QLocale().toString(n, 'f', decimals) + QLatin1String(kSuffixes[unit]);
}

QString format_ratio(double ratio) {
    return QLocale().toString(ratio, 'f', 1) + QLatin1Char('x');
}

QPen series_pen(const QColor& color, qreal width, Qt::PenStyle style) {
    QPen pen(color);
    pen.setWidthF(width);
    pen.setStyle(style);
    pen.setCapStyle(Qt::RoundCap);
    pen.setJoinStyle(Qt::RoundJoin);
    return pen;
}

}  // namespace

QString format_bytes(double bytes) {
    if (!(bytes >= 0)) bytes = 0;
    static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    // Move up a unit before the rounded figure would read 1024.
    while (unit < 4 && (unit == 0 ? bytes >= 1024.0 : bytes >= 1023.5)) {
        bytes /= 1024.0;
        ++unit;
    }
    if (unit == 0) return QStringLiteral("%1 B").arg(static_cast<qlonglong>(std::llround(bytes)));
    // Three significant digits: "1.20 GiB", "21.3 MiB", "512 KiB".
    const int decimals = bytes < 9.995 ? 2 : (bytes < 99.95 ? 1 : 0);
    return QStringLiteral("%1 %2").arg(bytes, 0, 'f', decimals).arg(QLatin1String(kUnits[unit]));
}

CachePanel::CachePanel(QWidget* parent) : QWidget(parent) {
    setAccessibleName(tr("Cache memory"));
    setAccessibleDescription(
        tr("Bytes held by the latent KV cache as tokens stream in, next to what multi-head, "
           "grouped-query and multi-query attention of the same model would need"));

    auto* chart = new QChart;
    // Follow a dark palette with the dark theme; the theme resets pens, so it comes first.
    if (palette().color(QPalette::Window).lightness() < 128)
        chart->setTheme(QChart::ChartThemeDark);
    chart->setTitle(tr("KV cache memory"));
    chart->legend()->setAlignment(Qt::AlignBottom);
    chart->setMargins(QMargins(4, 4, 4, 4));

    const bool dark = chart->theme() == QChart::ChartThemeDark;
    const QColor blue = dark ? QColor(0x64, 0xb5, 0xf6) : QColor(0x15, 0x65, 0xc0);
    const QColor green = dark ? QColor(0x81, 0xc7, 0x84) : QColor(0x2e, 0x7d, 0x32);
    const QColor red = dark ? QColor(0xef, 0x53, 0x50) : QColor(0xc6, 0x28, 0x28);
    const QColor orange = dark ? QColor(0xff, 0xb7, 0x4d) : QColor(0xef, 0x6c, 0x00);
    const QColor purple = dark ? QColor(0xce, 0x93, 0xd8) : QColor(0x6a, 0x1b, 0x9a);

    auto make_series = [&](const QString& name, const QPen& pen) {
        auto* s = new QLineSeries;
        s->setName(name);
        s->setPen(pen);
        chart->addSeries(s);
        return s;
    };
    // Estimates first so that our own lines are drawn on top of them.
    mha_ = make_series(tr("MHA would need"), series_pen(red, 2.0, Qt::SolidLine));
    gqa_ = make_series(tr("GQA-8 would need"), series_pen(orange, 2.0, Qt::DashLine));
    mqa_ = make_series(tr("MQA would need"), series_pen(purple, 2.0, Qt::DotLine));
    allocated_ = make_series(tr("latent cache, allocated"), series_pen(blue, 3.0, Qt::SolidLine));
    live_ = make_series(tr("latent cache, live"), series_pen(green, 3.0, Qt::SolidLine));

    x_axis_ = new QValueAxis;
    x_axis_->setTitleText(tr("tokens in context"));
    x_axis_->setLabelFormat(QStringLiteral("%.0f"));
    x_axis_->setRange(0, 64);
    // MHA needs 8 to 70 times the latent cache's bytes: on a linear axis our own lines would lie
    // flat on the floor, so the y axis is logarithmic. The series keep exact byte values on a
    // QLogValueAxis (base 2) whose printf-style labels cannot name units; a category axis over
    // the same span in log2(bytes) draws the labels ("64 KiB", "1 MiB", ...) and grid instead.
    y_log_ = new QLogValueAxis;
    y_log_->setBase(2.0);
    y_log_->setLabelsVisible(false);
    y_log_->setGridLineVisible(false);
    y_log_->setMinorGridLineVisible(false);
    y_log_->setLineVisible(false);
    y_log_->setMinorTickCount(0);
    auto* y_axis = new QCategoryAxis;
    y_axis->setLabelsPosition(QCategoryAxis::AxisLabelsPositionOnValue);
    y_axis->setTitleText(tr("bytes (log scale)"));
    y_axis_ = y_axis;
    chart->addAxis(x_axis_, Qt::AlignBottom);
    chart->addAxis(y_axis_, Qt::AlignLeft);
    chart->addAxis(y_log_, Qt::AlignLeft);
    for (QLineSeries* s : {mha_, gqa_, mqa_, allocated_, live_}) {
        s->attachAxis(x_axis_);
        s->attachAxis(y_log_);
    }
    chart->legend()->setVisible(false);

    // The legend below the chart: the chart's own one elides the names when narrow.
    auto* legend = new QWidget;
    legend->setObjectName(QStringLiteral("cacheLegend"));
    legend->setAccessibleName(tr("Chart legend"));
    auto* legend_grid = new QGridLayout(legend);
    legend_grid->setContentsMargins(0, 0, 0, 0);
    legend_grid->setHorizontalSpacing(12);
    legend_grid->setVerticalSpacing(2);
    int cell = 0;
    for (QLineSeries* s : {allocated_, live_, mha_, gqa_, mqa_}) {
        QPixmap swatch(28, 12);
        swatch.fill(Qt::transparent);
        {
            QPainter painter(&swatch);
            painter.setRenderHint(QPainter::Antialiasing);
            QPen pen = s->pen();
            pen.setCapStyle(Qt::FlatCap);
            painter.setPen(pen);
            painter.drawLine(QPointF(1, 6), QPointF(27, 6));
        }
        auto* icon = new QLabel;
        icon->setPixmap(swatch);
        icon->setAccessibleName(tr("Line style of %1").arg(s->name()));
        auto* text = new QLabel(s->name());
        text->setAccessibleName(s->name());
        text->setAccessibleDescription(tr("Legend entry"));
        connect(s, &QLineSeries::nameChanged, text, [text, s] { text->setText(s->name()); });
        // Ours on the first row, the estimates on the second.
        const int row = cell < 2 ? 0 : 1;
        const int column = cell < 2 ? cell : cell - 2;
        auto* entry = new QHBoxLayout;
        entry->setSpacing(4);
        entry->addWidget(icon);
        entry->addWidget(text, 1);
        legend_grid->addLayout(entry, row, column);
        ++cell;
    }

    view_ = new QChartView(chart);
    view_->setObjectName(QStringLiteral("cacheChart"));
    view_->setRenderHint(QPainter::Antialiasing);
    view_->setMinimumSize(320, 200);
    view_->setAccessibleName(tr("Cache memory chart"));

    QFont big = font();
    big.setBold(true);
    big.setPointSizeF(big.pointSizeF() > 0 ? big.pointSizeF() * 1.5 : 15.0);
    ratio_ = new QLabel;
    ratio_->setObjectName(QStringLiteral("cacheRatio"));
    ratio_->setFont(big);
    ratio_->setWordWrap(true);
    ratio_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    ratio_->setAccessibleName(tr("Memory ratio"));
    ratio_->setAccessibleDescription(
        tr("How many times more memory multi-head attention would need than the latent cache"));

    layers_ = new QLabel;
    layers_->setObjectName(QStringLiteral("cacheLayers"));
    layers_->setWordWrap(true);
    layers_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layers_->setAccessibleName(tr("Per-layer breakdown"));
    layers_->setAccessibleDescription(
        tr("Numbers cached per token and bytes held by one layer, latent cache versus MHA"));

    context_ = new QLabel;
    context_->setObjectName(QStringLiteral("cacheContext"));
    context_->setWordWrap(true);
    context_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    context_->setAccessibleName(tr("Context window"));
    context_->setAccessibleDescription(
        tr("Tokens in the context window and how many more fit in the free memory"));

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    layout->addWidget(view_, 1);
    layout->addWidget(legend);
    layout->addWidget(ratio_);
    layout->addWidget(layers_);
    layout->addWidget(context_);
    setMinimumSize(360, 300);

    reset(lc::CacheStats{});
}

void CachePanel::reset(const lc::CacheStats& shape, double device_free_bytes,
                       const QString& remote_note) {
    device_free_bytes_ = device_free_bytes;
    remote_note_ = remote_note;
    for (QLineSeries* s : {allocated_, live_, mha_, gqa_, mqa_})
        s->clear();
    gqa_->setName(shape.gqa_groups > 0 ? tr("GQA-%1 would need").arg(shape.gqa_groups)
                                       : tr("GQA-8 would need"));
    free_bytes_read_ms_ = -1;  // read the free memory afresh
    update_labels(shape);
    rescale();
}

void CachePanel::add_sample(const lc::CacheStats& stats) {
    const double x = stats.tokens;
    // A shorter context than the last sample means the conversation was cut back (an edit or a
    // regeneration): drop the points beyond it so that the lines keep going left to right.
    for (QLineSeries* s : {allocated_, live_, mha_, gqa_, mqa_}) {
        int keep = s->count();
        while (keep > 0 && s->at(keep - 1).x() >= x)
            --keep;
        if (keep < s->count()) s->removePoints(keep, s->count() - keep);
    }
    // Nothing to plot at zero tokens (zero bytes have no place on a log axis).
    if (stats.tokens <= 0) {
        update_labels(stats);
        rescale();
        return;
    }
    allocated_->append(x, static_cast<double>(stats.bytes_allocated));
    live_->append(x, static_cast<double>(stats.bytes_live));
    mha_->append(x, static_cast<double>(stats.mha_bytes));
    gqa_->append(x, static_cast<double>(stats.gqa_bytes));
    mqa_->append(x, static_cast<double>(stats.mqa_bytes));
    update_labels(stats);
    rescale();
}

QString CachePanel::ratio_text() const {
    return ratio_->text();
}
QString CachePanel::context_text() const {
    return context_->text();
}

void CachePanel::rescale() {
    double max_x = 0, min_y = 0, max_y = 0;
    for (const QLineSeries* s : {allocated_, live_, mha_, gqa_, mqa_}) {
        for (const QPointF& p : s->points()) {
            max_x = std::max(max_x, p.x());
            if (p.y() > 0) min_y = min_y > 0 ? std::min(min_y, p.y()) : p.y();
            max_y = std::max(max_y, p.y());
        }
    }
    x_axis_->setRange(0, std::max(max_x, 16.0));
    x_axis_->applyNiceNumbers();

    // y: whole powers of two around the data, labelled every 1, 2, 5 or 10 powers.
    int lo = 10, hi = 20;  // 1 KiB to 1 MiB before any sample
    if (max_y > 0) {
        lo = static_cast<int>(std::floor(std::log2(min_y)));
        hi = static_cast<int>(std::ceil(std::log2(max_y)));
    }
    int step = 1;
    for (int candidate : {1, 2, 5, 10}) {
        step = candidate;
        if ((hi - lo + candidate - 1) / candidate <= 6) break;
    }
    lo = static_cast<int>(std::floor(double(lo) / step)) * step;
    hi = std::max(static_cast<int>(std::ceil(double(hi) / step)) * step, lo + step);
    y_log_->setRange(std::ldexp(1.0, lo), std::ldexp(1.0, hi));

    auto* y_axis = static_cast<QCategoryAxis*>(y_axis_);
    for (const QString& label : y_axis->categoriesLabels())
        y_axis->remove(label);
    y_axis->setStartValue(lo);
    y_axis->setRange(lo, hi);
    static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    for (int e = lo + step; e <= hi; e += step) {
        const int unit = std::clamp(e / 10, 0, 5);
        const QString label =
            QStringLiteral("%1 %2").arg(QLocale().toString(std::ldexp(1.0, e - 10 * unit), 'f', 0),
                                        QLatin1String(kUnits[unit]));
        y_axis->append(label, e);
    }
}

double CachePanel::free_memory_bytes(const lc::CacheStats& stats) {
    // On a GPU the cache's pages are what grows after load.
    if (device_free_bytes_ > 0)
        return std::max(0.0, device_free_bytes_ - static_cast<double>(stats.bytes_allocated));
    // /proc/meminfo is cheap to read, but samples may come with every token: once a second.
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (free_bytes_read_ms_ < 0 || now - free_bytes_read_ms_ > 1000) {
        free_bytes_ = available_memory_bytes();
        free_bytes_read_ms_ = now;
    }
    return free_bytes_;
}

void CachePanel::update_labels(const lc::CacheStats& s) {
    const QLocale locale;
    if (s.mla_elements <= 0 || s.layers <= 0) {
        ratio_->setText(remote_note_.isEmpty() ? tr("No model loaded") : remote_note_);
        layers_->setText(QString());
        context_->setText(QString());
        view_->setAccessibleDescription(ratio_->text());
        return;
    }

    if (s.bytes_live > 0) {
        const double ratio = static_cast<double>(s.mha_bytes) / static_cast<double>(s.bytes_live);
        ratio_->setText(tr("MHA would need %1 more: %2 vs %3")
                            .arg(format_ratio(ratio), format_bytes(double(s.mha_bytes)),
                                 format_bytes(double(s.bytes_live))));
    } else {
        const double ratio =
            static_cast<double>(s.mha_elements) / static_cast<double>(s.mla_elements);
        ratio_->setText(tr("MHA would need %1 more per token").arg(format_ratio(ratio)));
    }

    QString per_layer =
        tr("Per layer: %1 numbers per token (MLA) vs %2 (MHA), %3 (GQA-%4), %5 (MQA)")
            .arg(locale.toString(qlonglong(s.mla_elements)),
                 locale.toString(qlonglong(s.mha_elements)),
                 locale.toString(qlonglong(s.gqa_elements)))
            .arg(s.gqa_groups)
            .arg(locale.toString(qlonglong(s.mqa_elements)));
    per_layer += QStringLiteral(" · ") + tr("live %1 of %2 allocated · MHA %3")
                                             .arg(format_bytes(double(s.layer_bytes_live)),
                                                  format_bytes(double(s.layer_bytes_allocated)),
                                                  format_bytes(double(s.layer_mha_bytes)));
    per_layer +=
        QStringLiteral(" · ") + (s.layers == 1 ? tr("1 layer") : tr("%1 layers").arg(s.layers));
    layers_->setText(per_layer);

    QString context =
        tr("%1 / %2 tokens")
            .arg(locale.toString(qlonglong(s.tokens)), locale.toString(qlonglong(s.max_tokens)));
    const double free_bytes = free_memory_bytes(s);
    const double e = static_cast<double>(s.bytes_per_element) * s.layers;
    const double mla_per_token = static_cast<double>(s.mla_elements) * e;
    const double mha_per_token = static_cast<double>(s.mha_elements) * e;
    if (!remote_note_.isEmpty()) {
        context += QStringLiteral("\n") + remote_note_;
    } else if (free_bytes > 0 && mla_per_token > 0 && mha_per_token > 0) {
        context +=
            QStringLiteral(" · ") +
            (device_free_bytes_ > 0 ? tr("room for %1 more tokens in %2 free on the GPU (MHA: %3)")
                                    : tr("room for %1 more tokens in %2 free (MHA: %3)"))
                .arg(format_count(std::floor(free_bytes / mla_per_token)), format_bytes(free_bytes),
                     format_count(std::floor(free_bytes / mha_per_token)));
    }
    context_->setText(context);

    view_->setAccessibleDescription(ratio_->text() + QStringLiteral(". ") + context);
}

}  // namespace lc::ui
