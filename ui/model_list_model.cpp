#include "model_list_model.h"

#include "cache_panel.h"

namespace lc::ui {

namespace {

QString state_text(const ModelEntry& e) {
    switch (e.state) {
        case DownloadState::Remote:
            return QString();
        case DownloadState::Downloading:
            return ModelListModel::tr("Downloading: %1").arg(e.progress_text);
        case DownloadState::Paused:
            return e.progress_text.isEmpty()
                       ? ModelListModel::tr("Paused (resume continues where it stopped)")
                       : ModelListModel::tr("Paused at %1").arg(e.progress_text);
        case DownloadState::Local:
            if (e.bundled) return ModelListModel::tr("Comes with LatentChat");
            return e.in_hf_cache ? ModelListModel::tr("On this machine (huggingface_hub cache): %1")
                                       .arg(e.local_path)
                                 : ModelListModel::tr("On this machine: %1").arg(e.local_path);
    }
    return QString();
}

void update_in(QList<ModelEntry>& list, const QString& key, DownloadState state,
               const QString& text, int percent) {
    for (ModelEntry& e : list) {
        if (e.key() != key) continue;
        e.state = state;
        e.progress_text = text;
        e.percent = percent;
    }
}

}  // namespace

int ModelListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

std::optional<Fit> ModelListModel::fit(const ModelEntry& e) const {
    if (!memory_ || !e.shape || e.bytes <= 0) return std::nullopt;
    return check_fit(e.bytes, *e.shape, *memory_);
}

QString ModelListModel::fit_text(const ModelEntry& e) const {
    if (!e.shape || e.bytes <= 0) return tr("Fit not known until the size and shape are");
    if (!memory_) return tr("Checking this machine's memory…");
    const Fit f = *fit(e);
    switch (f.place) {
        case FitPlace::Gpu:
            return tr("Fits on the GPU: %L1 tokens of context").arg(f.context_tokens);
        case FitPlace::CpuOnly:
            return tr("CPU only: %L1 tokens of context").arg(f.context_tokens);
        case FitPlace::TooLarge:
            break;
    }
    return tr("Too large for this machine");
}

QVariant ModelListModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() < 0 || index.row() >= rows_.size()) return {};
    const ModelEntry& e = rows_.at(index.row());
    switch (role) {
        case Qt::DisplayRole:
        case Qt::AccessibleTextRole: {
            QStringList lines{e.title};
            QStringList facts;
            if (e.bytes > 0) facts << format_bytes(double(e.bytes));
            if (!e.quantization.isEmpty()) facts << e.quantization;
            if (!e.note.isEmpty()) facts << e.note;
            if (!facts.isEmpty()) lines << facts.join(QStringLiteral(" · "));
            lines << fit_text(e);
            if (const QString s = state_text(e); !s.isEmpty()) lines << s;
            return lines.join(QLatin1Char('\n'));
        }
        case Qt::ToolTipRole:
            return e.repo.isEmpty()
                       ? e.local_path
                       : (e.file.isEmpty() ? e.repo : e.repo + QLatin1Char('/') + e.file);
        case FitTextRole:
            return fit_text(e);
        case FitPlaceRole: {
            const std::optional<Fit> f = fit(e);
            return f ? static_cast<int>(f->place) : -1;
        }
        case ContextTokensRole: {
            const std::optional<Fit> f = fit(e);
            return f ? static_cast<qint64>(f->context_tokens) : qint64{-1};
        }
        case StateRole:
            return static_cast<int>(e.state);
        case SourceRole:
            return static_cast<int>(e.source);
        case LocalPathRole:
            return e.local_path;
        case KeyRole:
            return e.key();
        case SizeRole:
            return e.bytes;
        case QuantizationRole:
            return e.quantization;
        default:
            return {};
    }
}

QHash<int, QByteArray> ModelListModel::roleNames() const {
    QHash<int, QByteArray> names = QAbstractListModel::roleNames();
    names[FitTextRole] = "fitText";
    names[FitPlaceRole] = "fitPlace";
    names[ContextTokensRole] = "contextTokens";
    names[StateRole] = "state";
    names[SourceRole] = "source";
    names[LocalPathRole] = "localPath";
    names[KeyRole] = "key";
    names[SizeRole] = "size";
    names[QuantizationRole] = "quantization";
    return names;
}

int ModelListModel::find(const QString& key) const {
    for (int i = 0; i < rows_.size(); ++i)
        if (rows_[i].key() == key) return i;
    return -1;
}

void ModelListModel::set_recommended(const QList<ModelEntry>& entries) {
    recommended_ = entries;
    rebuild();
}

void ModelListModel::set_local(const QList<ModelEntry>& entries) {
    local_ = entries;
    rebuild();
}

void ModelListModel::set_search_results(const QList<ModelEntry>& entries) {
    search_ = entries;
    rebuild();
}

void ModelListModel::set_memory(const MachineMemory& memory) {
    memory_ = memory;
    if (!rows_.isEmpty()) emit dataChanged(index(0), index(int(rows_.size()) - 1));
}

void ModelListModel::set_download_state(const QString& key, DownloadState state,
                                        const QString& text, int percent) {
    update_in(recommended_, key, state, text, percent);
    update_in(local_, key, state, text, percent);
    update_in(search_, key, state, text, percent);
    for (int i = 0; i < rows_.size(); ++i) {
        ModelEntry& e = rows_[i];
        if (e.key() != key) continue;
        e.state = state;
        e.progress_text = text;
        e.percent = percent;
        emit dataChanged(index(i), index(i));
    }
}

void ModelListModel::rebuild() {
    beginResetModel();
    rows_ = recommended_ + local_ + search_;
    endResetModel();
}

}  // namespace lc::ui
