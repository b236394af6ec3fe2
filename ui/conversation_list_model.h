#pragma once
// The sidebar's models over the history database. Conversations are fetched a page at a time as
// the list scrolls (canFetchMore/fetchMore), never the whole history, and come grouped under
// date headings (Pinned, Today, Yesterday, Last 7 days, Last 30 days, Older). Search results
// are a separate small model of ranked hits with snippets.
#include <QAbstractListModel>
#include <QDateTime>
#include <QList>

#include "history/history_store.h"

namespace lc::ui {

class ConversationListModel : public QAbstractListModel {
    Q_OBJECT

public:
    enum Roles { ConversationIdRole = Qt::UserRole + 1, IsHeaderRole, PinnedRole, UpdatedRole };
    static constexpr int kPage = 100;

    explicit ConversationListModel(QObject* parent = nullptr);
    // `store` may be null (no history); it must outlive the model.
    void set_store(HistoryStore* store);
    void refresh();  // reloads from the first page

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    bool canFetchMore(const QModelIndex& parent) const override;
    void fetchMore(const QModelIndex& parent) override;

    int row_of(int64_t conversation_id) const;
    int loaded_conversations() const { return loaded_; }
    // The heading a conversation belongs under, relative to `now`.
    static QString group_of(const HistoryConversation& c, const QDateTime& now);

private:
    struct Row {
        bool header = false;
        QString text;
        HistoryConversation conversation;
    };
    HistoryStore* store_ = nullptr;
    QList<Row> rows_;
    int loaded_ = 0;
    bool at_end_ = true;
    QString last_group_;
};

class SearchResultsModel : public QAbstractListModel {
    Q_OBJECT

public:
    enum Roles { ConversationIdRole = Qt::UserRole + 1, MessageIdRole };
    explicit SearchResultsModel(QObject* parent = nullptr);
    void set_results(const std::vector<SearchHit>& hits);
    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;

private:
    std::vector<SearchHit> hits_;
};

}  // namespace lc::ui
