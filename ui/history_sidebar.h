#pragma once
// The sidebar: New chat, a search field, and either the conversations grouped by date or, while
// a search is typed, the matching messages with snippets. Right-click a conversation to rename,
// pin, move to a folder, export or delete it (delete can be undone).
#include <QWidget>

#include "conversation_list_model.h"

class QLineEdit;
class QListView;
class QPushButton;
class QStackedWidget;
class QTimer;

namespace lc::ui {

class HistorySidebar : public QWidget {
    Q_OBJECT

public:
    explicit HistorySidebar(QWidget* parent = nullptr);
    void set_store(HistoryStore* store);
    void refresh();
    void select(int64_t conversation_id);
    ConversationListModel* conversations() const { return conversations_; }
    SearchResultsModel* results() const { return results_; }
    QLineEdit* search_field() const { return search_; }
    QListView* list() const { return list_; }
    QListView* results_list() const { return results_list_; }

signals:
    void new_chat_requested();
    void conversation_selected(qint64 conversation_id);
    void search_result_selected(qint64 conversation_id, qint64 message_id);
    void export_requested(qint64 conversation_id, const QString& format);
    void conversation_deleted(qint64 conversation_id);
    void status_message(const QString& text);

private:
    void run_search();
    void context_menu(const QPoint& pos);

    HistoryStore* store_ = nullptr;
    QLineEdit* search_ = nullptr;
    QStackedWidget* stack_ = nullptr;
    QListView* list_ = nullptr;
    QListView* results_list_ = nullptr;
    ConversationListModel* conversations_ = nullptr;
    SearchResultsModel* results_ = nullptr;
    QTimer* search_timer_ = nullptr;
};

}  // namespace lc::ui
