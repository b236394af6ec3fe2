#pragma once
// The messages of the conversation on screen, as a list model. Only the GUI thread touches it:
// the worker's text arrives by queued signal and the main window appends it here.
#include <QAbstractListModel>
#include <QList>
#include <QString>

#include "conversation_settings.h"
#include "inference_worker.h"

namespace lc::ui {

struct ChatMessage {
    QString role;  // "user" or "assistant"
    QString text;
    bool streaming = false;  // an assistant reply still being generated
    ReplyStats stats;        // assistant replies, once finished
};

class ChatModel : public QAbstractListModel {
    Q_OBJECT

public:
    enum Roles { RoleRole = Qt::UserRole + 1, TextRole, StreamingRole, StatsTextRole };

    explicit ChatModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

    const ChatMessage& message(int row) const { return messages_[row]; }
    int add_message(const QString& role, const QString& text, bool streaming = false);
    void append_text(int row, const QString& text);
    void set_text(int row, const QString& text);
    void finish(int row, const ReplyStats& stats);
    // Drops rows [row, end): used by edit-and-resend and regenerate.
    void truncate(int row);
    void clear();
    // The conversation as the worker takes it, with `system` first when not empty.
    QList<ChatTurn> turns(const QString& system) const;

private:
    QList<ChatMessage> messages_;
};

// "1.9 s to first token · 42.0 tokens/s · 180 tokens"
QString reply_stats_text(const ReplyStats& stats);

}  // namespace lc::ui
