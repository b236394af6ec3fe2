#pragma once
// Gathers a reply's text as it streams and says when to pass it on: the first piece at once,
// then at most once per interval, so the GUI's event loop is not flooded with one signal per
// token. Used on the worker thread by the local and the remote engine alike.
#include <QElapsedTimer>
#include <QString>
#include <utility>

namespace lc::ui {

class TextCoalescer {
public:
    explicit TextCoalescer(int interval_ms) : interval_ms_(interval_ms) {}

    // Adds a piece; true when it is time to send what is pending (take()).
    bool add(const QString& piece) {
        pending_ += piece;
        sent_ += piece;
        return !emitted_ || since_.elapsed() >= interval_ms_;
    }
    QString take() {
        emitted_ = true;
        since_.start();
        return std::exchange(pending_, QString());
    }
    // At the end: text the engine held back and then released (a cancelled reply keeps what it
    // had) joins what is pending, so the pieces add up to `reply`.
    QString rest(const QString& reply) {
        if (reply.size() > sent_.size() && reply.startsWith(sent_))
            pending_ += reply.mid(sent_.size());
        return take();
    }

private:
    int interval_ms_;
    QString pending_;
    QString sent_;  // everything added so far
    QElapsedTimer since_;
    bool emitted_ = false;
};

}  // namespace lc::ui
