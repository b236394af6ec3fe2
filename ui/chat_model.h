#pragma once
// The messages of the conversation on screen, as a list model. Only the GUI thread touches it:
// the worker's text arrives by queued signal and the controller appends it here.
#include <QAbstractListModel>
#include <QList>
#include <QString>

#include "base/message.h"

namespace lc::ui {

class ChatModel : public QAbstractListModel {
    Q_OBJECT

public:
    enum Roles { RoleRole = Qt::UserRole + 1, TextRole, StreamingRole, StatsTextRole };

    explicit ChatModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

    // A row's id is its place in the history (0: not saved); meta is set once a reply finishes.
    const Message& message(int row) const { return messages_[row]; }
    // An assistant reply still being generated.
    bool streaming(int row) const { return row == streaming_row_; }
    int add_message(const Message& message, bool streaming = false);
    int add_message(const QString& role, const QString& text, bool streaming = false);
    void append_text(int row, const QString& text);
    void set_text(int row, const QString& text);
    void finish(int row, const MessageMeta& meta);
    // Drops rows [row, end): used by edit-and-resend and regenerate.
    void truncate(int row);
    void clear();
    // The conversation as the worker takes it, with `system` first when not empty.
    QList<Message> turns(const QString& system) const;

private:
    QList<Message> messages_;
    int streaming_row_ = -1;  // one reply streams at a time
};

// "1.9 s to first token · 42.0 tokens/s · 180 tokens"
QString reply_stats_text(const MessageMeta& meta);

}  // namespace lc::ui
