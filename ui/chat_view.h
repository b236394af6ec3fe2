#pragma once
// The conversation on screen: one MessageWidget per row of the ChatModel, kept in step with the
// model's signals, scrolled to the newest text unless the user has scrolled up to read. Also the
// message input: Enter sends, Shift+Enter starts a new line.
#include <QList>
#include <QPlainTextEdit>
#include <QScrollArea>

#include "chat_model.h"
#include "message_widget.h"

class QVBoxLayout;

namespace lc::ui {

class ChatView : public QScrollArea {
    Q_OBJECT

public:
    explicit ChatView(ChatModel* model, QWidget* parent = nullptr);

    MessageWidget* message_widget(int row) const { return widgets_.value(row); }
    int message_count() const { return static_cast<int>(widgets_.size()); }
    bool following() const { return follow_; }
    // Selects the next occurrence of `text` after the current one; false when there is none.
    bool find_next(const QString& text);
    // Brings a message into view and stops following new text.
    void scroll_to(int row);

signals:
    void copy_requested(const QString& text);
    void regenerate_requested(int row);
    void edit_requested(int row);
    void branch_requested(int row);

private:
    void rows_inserted(int first, int last);
    void rows_removed(int first, int last);
    void retire(MessageWidget* w);
    void row_changed(int row);
    void show_row(MessageWidget* w, int row);
    void rebuild();
    void scroll_if_following();
    MessageWidget* make_widget(int row);

    ChatModel* model_;
    QWidget* content_ = nullptr;
    QVBoxLayout* column_ = nullptr;
    QList<MessageWidget*> widgets_;
    bool follow_ = true;  // at the bottom: new text scrolls into view
    int find_row_ = 0;
};

class ChatInput : public QPlainTextEdit {
    Q_OBJECT

public:
    explicit ChatInput(QWidget* parent = nullptr);

signals:
    void send_requested();

protected:
    void keyPressEvent(QKeyEvent* event) override;
};

}  // namespace lc::ui
