#include "conversation_list_model.h"

#include <QFont>

namespace lc::ui {

ConversationListModel::ConversationListModel(QObject* parent) : QAbstractListModel(parent) {}

void ConversationListModel::set_store(HistoryStore* store) {
    store_ = store;
    refresh();
}

void ConversationListModel::refresh() {
    beginResetModel();
    rows_.clear();
    loaded_ = 0;
    last_group_.clear();
    at_end_ = store_ == nullptr;
    endResetModel();
    if (store_) fetchMore({});
}

QString ConversationListModel::group_of(const HistoryConversation& c, const QDateTime& now) {
    if (c.pinned) return tr("Pinned");
    const QDate day = QDateTime::fromMSecsSinceEpoch(c.updated_ms).date();
    const qint64 days = day.daysTo(now.date());
    if (days <= 0) return tr("Today");
    if (days == 1) return tr("Yesterday");
    if (days < 7) return tr("Last 7 days");
    if (days < 30) return tr("Last 30 days");
    return tr("Older");
}

bool ConversationListModel::canFetchMore(const QModelIndex& parent) const {
    return !parent.isValid() && !at_end_;
}

void ConversationListModel::fetchMore(const QModelIndex& parent) {
    if (parent.isValid() || !store_ || at_end_) return;
    const std::vector<HistoryConversation> page = store_->list_conversations(kPage, loaded_);
    at_end_ = static_cast<int>(page.size()) < kPage;
    if (page.empty()) return;
    const QDateTime now = QDateTime::currentDateTime();
    QList<Row> add;
    for (const HistoryConversation& c : page) {
        const QString group = group_of(c, now);
        if (group != last_group_) {
            add.append(Row{true, group, {}});
            last_group_ = group;
        }
        add.append(Row{false, QString::fromStdString(c.title), c});
    }
    beginInsertRows({}, static_cast<int>(rows_.size()),
                    static_cast<int>(rows_.size() + add.size()) - 1);
    rows_.append(add);
    loaded_ += static_cast<int>(page.size());
    endInsertRows();
}

int ConversationListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

QVariant ConversationListModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rows_.size()) return {};
    const Row& r = rows_[index.row()];
    switch (role) {
        case Qt::DisplayRole:
        case Qt::AccessibleTextRole:
            return r.text.isEmpty() && !r.header ? tr("(untitled)") : r.text;
        case Qt::FontRole:
            if (r.header) {
                QFont f;
                f.setBold(true);
                return f;
            }
            return {};
        case Qt::ToolTipRole:
            return r.header ? QVariant()
                            : tr("%1 messages, updated %2")
                                  .arg(r.conversation.message_count)
                                  .arg(QDateTime::fromMSecsSinceEpoch(r.conversation.updated_ms)
                                           .toString("yyyy-MM-dd hh:mm"));
        case ConversationIdRole:
            return r.header ? QVariant() : QVariant::fromValue(r.conversation.id);
        case IsHeaderRole:
            return r.header;
        case PinnedRole:
            return r.conversation.pinned;
        case UpdatedRole:
            return QVariant::fromValue(r.conversation.updated_ms);
    }
    return {};
}

Qt::ItemFlags ConversationListModel::flags(const QModelIndex& index) const {
    if (!index.isValid()) return Qt::NoItemFlags;
    return rows_[index.row()].header ? Qt::ItemIsEnabled : Qt::ItemIsEnabled | Qt::ItemIsSelectable;
}

int ConversationListModel::row_of(int64_t conversation_id) const {
    for (int i = 0; i < rows_.size(); ++i)
        if (!rows_[i].header && rows_[i].conversation.id == conversation_id) return i;
    return -1;
}

SearchResultsModel::SearchResultsModel(QObject* parent) : QAbstractListModel(parent) {}

void SearchResultsModel::set_results(const std::vector<SearchHit>& hits) {
    beginResetModel();
    hits_ = hits;
    endResetModel();
}

int SearchResultsModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(hits_.size());
}

QVariant SearchResultsModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= static_cast<int>(hits_.size())) return {};
    const SearchHit& h = hits_[index.row()];
    switch (role) {
        case Qt::DisplayRole:
        case Qt::AccessibleTextRole:
            return QString::fromStdString(h.conversation_title) + "\n" +
                   QString::fromStdString(h.snippet);
        case Qt::ToolTipRole:
            return QString::fromStdString(h.role);
        case ConversationIdRole:
            return QVariant::fromValue(h.conversation_id);
        case MessageIdRole:
            return QVariant::fromValue(h.message_id);
    }
    return {};
}

}  // namespace lc::ui
