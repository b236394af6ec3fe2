#include "chat_model.h"

#include <algorithm>

namespace lc::ui {

ChatModel::ChatModel(QObject* parent) : QAbstractListModel(parent) {}

int ChatModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(messages_.size());
}

QVariant ChatModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.parent().isValid() || index.row() < 0 ||
        index.row() >= messages_.size())
        return {};
    const Message& m = messages_[index.row()];
    const bool streaming = index.row() == streaming_row_;
    switch (role) {
        case Qt::DisplayRole:
        case TextRole:
            return QString::fromStdString(m.content);
        case RoleRole:
            return QString::fromStdString(m.role);
        case StreamingRole:
            return streaming;
        case StatsTextRole:
            // Only finished assistant replies have stats worth showing.
            if (m.role != "assistant" || streaming || m.meta.token_count == 0) return QString();
            return reply_stats_text(m.meta);
        default:
            return {};
    }
}

QHash<int, QByteArray> ChatModel::roleNames() const {
    QHash<int, QByteArray> names = QAbstractListModel::roleNames();
    names[RoleRole] = "role";
    names[TextRole] = "text";
    names[StreamingRole] = "streaming";
    names[StatsTextRole] = "statsText";
    return names;
}

int ChatModel::add_message(const Message& message, bool streaming) {
    const int row = static_cast<int>(messages_.size());
    beginInsertRows({}, row, row);
    messages_.append(message);
    if (streaming) streaming_row_ = row;
    endInsertRows();
    return row;
}

int ChatModel::add_message(const QString& role, const QString& text, bool streaming) {
    return add_message(Message(role.toStdString(), text.toStdString()), streaming);
}

void ChatModel::append_text(int row, const QString& text) {
    if (row < 0 || row >= messages_.size() || text.isEmpty()) return;
    messages_[row].content += text.toStdString();
    const QModelIndex i = index(row);
    emit dataChanged(i, i, {TextRole, Qt::DisplayRole});
}

void ChatModel::set_text(int row, const QString& text) {
    if (row < 0 || row >= messages_.size()) return;
    messages_[row].content = text.toStdString();
    const QModelIndex i = index(row);
    emit dataChanged(i, i, {TextRole, Qt::DisplayRole});
}

void ChatModel::finish(int row, const MessageMeta& meta) {
    if (row < 0 || row >= messages_.size()) return;
    if (streaming_row_ == row) streaming_row_ = -1;
    messages_[row].meta = meta;
    const QModelIndex i = index(row);
    emit dataChanged(i, i, {StreamingRole, StatsTextRole});
}

void ChatModel::truncate(int row) {
    row = std::max(row, 0);
    const int n = static_cast<int>(messages_.size());
    if (row >= n) return;
    beginRemoveRows({}, row, n - 1);
    messages_.erase(messages_.begin() + row, messages_.end());
    if (streaming_row_ >= row) streaming_row_ = -1;
    endRemoveRows();
}

void ChatModel::clear() {
    if (messages_.isEmpty()) return;
    beginResetModel();
    messages_.clear();
    streaming_row_ = -1;
    endResetModel();
}

QList<Message> ChatModel::turns(const QString& system) const {
    QList<Message> out;
    out.reserve(messages_.size() + 1);
    if (!system.isEmpty()) out.append(Message("system", system.toStdString()));
    out.append(messages_);
    return out;
}

QString reply_stats_text(const MessageMeta& meta) {
    const double ttft_s = meta.time_to_first_token_ms / 1000.0;
    // Two decimals under ten seconds ("0.12 s"), one above ("12.3 s").
    const QString ttft = QString::number(ttft_s, 'f', ttft_s < 10.0 ? 2 : 1);
    const QString sep = QStringLiteral(" \u00B7 ");
    QString text = ttft + QStringLiteral(" s to first token") + sep +
                   QString::number(meta.tokens_per_second, 'f', 1) + QStringLiteral(" tokens/s") +
                   sep + QString::number(meta.token_count) +
                   (meta.token_count == 1 ? QStringLiteral(" token") : QStringLiteral(" tokens"));
    return text;
}

}  // namespace lc::ui
