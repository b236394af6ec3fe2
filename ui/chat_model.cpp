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
    const ChatMessage& m = messages_[index.row()];
    switch (role) {
        case Qt::DisplayRole:
        case TextRole:
            return m.text;
        case RoleRole:
            return m.role;
        case StreamingRole:
            return m.streaming;
        case StatsTextRole:
            // Only finished assistant replies have stats worth showing.
            if (m.role != QLatin1String("assistant") || m.streaming || m.stats.tokens == 0)
                return QString();
            return reply_stats_text(m.stats);
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

int ChatModel::add_message(const QString& role, const QString& text, bool streaming) {
    const int row = static_cast<int>(messages_.size());
    beginInsertRows({}, row, row);
    ChatMessage m;
    m.role = role;
    m.text = text;
    m.streaming = streaming;
    messages_.append(m);
    endInsertRows();
    return row;
}

void ChatModel::append_text(int row, const QString& text) {
    if (row < 0 || row >= messages_.size() || text.isEmpty()) return;
    messages_[row].text += text;
    const QModelIndex i = index(row);
    emit dataChanged(i, i, {TextRole, Qt::DisplayRole});
}

void ChatModel::set_text(int row, const QString& text) {
    if (row < 0 || row >= messages_.size()) return;
    messages_[row].text = text;
    const QModelIndex i = index(row);
    emit dataChanged(i, i, {TextRole, Qt::DisplayRole});
}

void ChatModel::finish(int row, const ReplyStats& stats) {
    if (row < 0 || row >= messages_.size()) return;
    messages_[row].streaming = false;
    messages_[row].stats = stats;
    const QModelIndex i = index(row);
    emit dataChanged(i, i, {StreamingRole, StatsTextRole});
}

void ChatModel::truncate(int row) {
    row = std::max(row, 0);
    const int n = static_cast<int>(messages_.size());
    if (row >= n) return;
    beginRemoveRows({}, row, n - 1);
    messages_.erase(messages_.begin() + row, messages_.end());
    endRemoveRows();
}

void ChatModel::clear() {
    if (messages_.isEmpty()) return;
    beginResetModel();
    messages_.clear();
    endResetModel();
}

QList<ChatTurn> ChatModel::turns(const QString& system) const {
    QList<ChatTurn> out;
    out.reserve(messages_.size() + 1);
    if (!system.isEmpty()) out.append({QStringLiteral("system"), system});
    for (const ChatMessage& m : messages_)
        out.append({m.role, m.text});
    return out;
}

QString reply_stats_text(const ReplyStats& stats) {
    const double ttft_s = stats.time_to_first_token_ms / 1000.0;
    // Two decimals under ten seconds ("0.12 s"), one above ("12.3 s").
    const QString ttft = QString::number(ttft_s, 'f', ttft_s < 10.0 ? 2 : 1);
    const QString sep = QStringLiteral(" \u00B7 ");
    QString text = ttft + QStringLiteral(" s to first token") + sep +
                   QString::number(stats.tokens_per_second, 'f', 1) + QStringLiteral(" tokens/s") +
                   sep + QString::number(stats.tokens) +
                   (stats.tokens == 1 ? QStringLiteral(" token") : QStringLiteral(" tokens"));
    return text;
}

}  // namespace lc::ui
