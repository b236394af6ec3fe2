#include "chat_view.h"

#include <QKeyEvent>
#include <QPointer>
#include <QScrollBar>
#include <QTextBrowser>
#include <QTimer>
#include <QVBoxLayout>

namespace lc::ui {

ChatView::ChatView(ChatModel* model, QWidget* parent) : QScrollArea(parent), model_(model) {
    setObjectName("chatView");
    setAccessibleName(tr("Conversation"));
    setWidgetResizable(true);
    setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    content_ = new QWidget(this);
    column_ = new QVBoxLayout(content_);
    column_->setSpacing(8);
    column_->addStretch();
    setWidget(content_);

    // Following stops when the user scrolls up, and resumes when they scroll back down.
    QScrollBar* bar = verticalScrollBar();
    connect(bar, &QScrollBar::valueChanged, this,
            [this, bar](int value) { follow_ = value >= bar->maximum() - 4; });
    connect(bar, &QScrollBar::rangeChanged, this, [this](int, int) { scroll_if_following(); });

    connect(model_, &QAbstractItemModel::rowsInserted, this,
            [this](const QModelIndex&, int first, int last) { rows_inserted(first, last); });
    connect(model_, &QAbstractItemModel::rowsRemoved, this,
            [this](const QModelIndex&, int first, int last) { rows_removed(first, last); });
    connect(model_, &QAbstractItemModel::dataChanged, this,
            [this](const QModelIndex& from, const QModelIndex& to) {
                for (int r = from.row(); r <= to.row(); ++r)
                    row_changed(r);
            });
    connect(model_, &QAbstractItemModel::modelReset, this, [this] { rebuild(); });
    rebuild();
}

MessageWidget* ChatView::make_widget(int row) {
    auto* w = new MessageWidget(QString::fromStdString(model_->message(row).role), content_);
    show_row(w, row);
    connect(w, &MessageWidget::copy_requested, this, &ChatView::copy_requested);
    connect(w, &MessageWidget::regenerate_requested, this,
            [this, w] { emit regenerate_requested(static_cast<int>(widgets_.indexOf(w))); });
    connect(w, &MessageWidget::edit_requested, this,
            [this, w] { emit edit_requested(static_cast<int>(widgets_.indexOf(w))); });
    connect(w, &MessageWidget::branch_requested, this,
            [this, w] { emit branch_requested(static_cast<int>(widgets_.indexOf(w))); });
    return w;
}

void ChatView::rows_inserted(int first, int last) {
    for (int r = first; r <= last; ++r) {
        MessageWidget* w = make_widget(r);
        widgets_.insert(r, w);
        column_->insertWidget(r, w);  // the stretch stays last
    }
    follow_ = true;  // a new message brings the view down
    scroll_if_following();
}

void ChatView::rows_removed(int first, int last) {
    for (int r = last; r >= first; --r)
        retire(widgets_.takeAt(r));
}

// A message's own button (Regenerate, Edit, Branch) can be what removes it: the click is still
// being handled inside that button, so the widget leaves the view now and is deleted later.
void ChatView::retire(MessageWidget* w) {
    disconnect(w, nullptr, this, nullptr);
    column_->removeWidget(w);
    w->hide();
    w->deleteLater();
}

void ChatView::row_changed(int row) {
    MessageWidget* w = widgets_.value(row);
    if (!w) return;
    show_row(w, row);
}

void ChatView::show_row(MessageWidget* w, int row) {
    const Message& m = model_->message(row);
    const bool streaming = model_->streaming(row);
    w->set_text(QString::fromStdString(m.content), streaming);
    w->set_stats_text(m.role == "assistant" && !streaming ? reply_stats_text(m.meta) : QString());
}

void ChatView::rebuild() {
    for (MessageWidget* w : std::as_const(widgets_))
        retire(w);
    widgets_.clear();
    if (model_->rowCount() > 0) rows_inserted(0, model_->rowCount() - 1);
}

void ChatView::scroll_if_following() {
    if (follow_) verticalScrollBar()->setValue(verticalScrollBar()->maximum());
}

bool ChatView::find_next(const QString& text) {
    if (text.isEmpty() || widgets_.isEmpty()) return false;
    const int n = static_cast<int>(widgets_.size());
    // The current message continues from its selection; the others (and, last, the current one
    // again) are searched from their start, so the search wraps around the conversation.
    for (int i = 0; i <= n; ++i) {
        const int row = (find_row_ + i) % n;
        QTextBrowser* body = widgets_[row]->body();
        if (i > 0) body->moveCursor(QTextCursor::Start);
        if (body->find(text)) {
            find_row_ = row;
            follow_ = false;
            ensureWidgetVisible(widgets_[row]);
            return true;
        }
    }
    return false;
}

void ChatView::scroll_to(int row) {
    MessageWidget* w = widgets_.value(row);
    if (!w) return;
    follow_ = false;
    // After the layout has placed the new widgets.
    QTimer::singleShot(0, this, [this, target = QPointer<MessageWidget>(w)] {
        if (target) ensureWidgetVisible(target, 0, 40);
    });
}

ChatInput::ChatInput(QWidget* parent) : QPlainTextEdit(parent) {
    setObjectName("messageInput");
    setAccessibleName(tr("Message"));
    setAccessibleDescription(tr("Enter sends the message; Shift+Enter starts a new line"));
    setPlaceholderText(tr("Ask for a story… (Enter sends, Shift+Enter for a new line)"));
    setTabChangesFocus(true);
}

void ChatInput::keyPressEvent(QKeyEvent* event) {
    const bool enter = event->key() == Qt::Key_Return || event->key() == Qt::Key_Enter;
    if (enter && !(event->modifiers() & Qt::ShiftModifier)) {
        emit send_requested();
        return;
    }
    QPlainTextEdit::keyPressEvent(event);
}

}  // namespace lc::ui
