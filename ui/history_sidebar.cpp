#include "history_sidebar.h"

#include <QInputDialog>
#include <QLineEdit>
#include <QListView>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QStackedWidget>
#include <QTimer>
#include <QVBoxLayout>

#include "base/error.h"

namespace lc::ui {

HistorySidebar::HistorySidebar(QWidget* parent) : QWidget(parent) {
    setObjectName("historySidebar");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto* new_chat = new QPushButton(tr("New chat"), this);
    new_chat->setObjectName("newChatButton");
    new_chat->setAccessibleName(tr("New chat"));
    connect(new_chat, &QPushButton::clicked, this, &HistorySidebar::new_chat_requested);
    layout->addWidget(new_chat);

    search_ = new QLineEdit(this);
    search_->setObjectName("historySearch");
    search_->setAccessibleName(tr("Search all conversations"));
    search_->setPlaceholderText(tr("Search all conversations"));
    search_->setClearButtonEnabled(true);
    layout->addWidget(search_);

    conversations_ = new ConversationListModel(this);
    results_ = new SearchResultsModel(this);
    list_ = new QListView(this);
    list_->setObjectName("conversationList");
    list_->setAccessibleName(tr("Conversations"));
    list_->setModel(conversations_);
    list_->setUniformItemSizes(true);  // cheap layout however long the history
    list_->setContextMenuPolicy(Qt::CustomContextMenu);
    results_list_ = new QListView(this);
    results_list_->setObjectName("searchResults");
    results_list_->setAccessibleName(tr("Search results"));
    results_list_->setModel(results_);
    results_list_->setWordWrap(true);
    results_list_->setAlternatingRowColors(true);
    stack_ = new QStackedWidget(this);
    stack_->addWidget(list_);
    stack_->addWidget(results_list_);
    layout->addWidget(stack_, 1);

    search_timer_ = new QTimer(this);
    search_timer_->setSingleShot(true);
    search_timer_->setInterval(150);  // search once typing pauses
    connect(search_timer_, &QTimer::timeout, this, &HistorySidebar::run_search);
    connect(search_, &QLineEdit::textChanged, this, [this] { search_timer_->start(); });

    connect(list_, &QListView::clicked, this, [this](const QModelIndex& index) {
        const QVariant id = index.data(ConversationListModel::ConversationIdRole);
        if (id.isValid()) emit conversation_selected(id.toLongLong());
    });
    connect(results_list_, &QListView::clicked, this, [this](const QModelIndex& index) {
        emit search_result_selected(index.data(SearchResultsModel::ConversationIdRole).toLongLong(),
                                    index.data(SearchResultsModel::MessageIdRole).toLongLong());
    });
    connect(list_, &QListView::customContextMenuRequested, this, &HistorySidebar::context_menu);
}

void HistorySidebar::set_store(HistoryStore* store) {
    store_ = store;
    conversations_->set_store(store);
}

void HistorySidebar::refresh() {
    conversations_->refresh();
    if (!search_->text().isEmpty()) run_search();
}

void HistorySidebar::select(int64_t conversation_id) {
    int row = conversations_->row_of(conversation_id);
    if (row >= 0) list_->setCurrentIndex(conversations_->index(row));
}

void HistorySidebar::run_search() {
    const QString text = search_->text().trimmed();
    if (text.isEmpty() || !store_) {
        stack_->setCurrentWidget(list_);
        return;
    }
    try {
        results_->set_results(store_->search(text.toStdString()));
    } catch (const Error& e) {
        emit status_message(QString::fromUtf8(e.what()));
        results_->set_results({});
    }
    stack_->setCurrentWidget(results_list_);
}

void HistorySidebar::context_menu(const QPoint& pos) {
    const QModelIndex index = list_->indexAt(pos);
    const QVariant id_value = index.data(ConversationListModel::ConversationIdRole);
    if (!store_ || !id_value.isValid()) return;
    const qint64 id = id_value.toLongLong();
    const bool pinned = index.data(ConversationListModel::PinnedRole).toBool();
    QMenu menu(this);
    QAction* rename = menu.addAction(tr("Rename…"));
    QAction* pin = menu.addAction(pinned ? tr("Unpin") : tr("Pin"));
    QAction* folder = menu.addAction(tr("Move to folder…"));
    menu.addSeparator();
    QAction* export_md = menu.addAction(tr("Export as Markdown…"));
    QAction* export_json = menu.addAction(tr("Export as JSON…"));
    menu.addSeparator();
    QAction* remove = menu.addAction(tr("Delete"));
    QAction* chosen = menu.exec(list_->viewport()->mapToGlobal(pos));
    if (!chosen) return;
    try {
        if (chosen == rename) {
            bool ok = false;
            const QString title = QInputDialog::getText(
                this, tr("Rename conversation"), tr("Title:"), QLineEdit::Normal,
                index.data(Qt::DisplayRole).toString(), &ok);
            if (ok && !title.trimmed().isEmpty()) store_->rename(id, title.trimmed().toStdString());
        } else if (chosen == pin) {
            store_->set_pinned(id, !pinned);
        } else if (chosen == folder) {
            bool ok = false;
            const QString name = QInputDialog::getText(this, tr("Move to folder"), tr("Folder:"),
                                                       QLineEdit::Normal, QString(), &ok);
            if (ok) store_->move_to_folder(id, name.trimmed().toStdString());
        } else if (chosen == export_md || chosen == export_json) {
            emit export_requested(id, chosen == export_md ? "md" : "json");
            return;
        } else if (chosen == remove) {
            store_->soft_delete(id);
            emit conversation_deleted(id);
        }
    } catch (const Error& e) {
        QMessageBox::warning(this, tr("History"), QString::fromUtf8(e.what()));
    }
    refresh();
}

}  // namespace lc::ui
