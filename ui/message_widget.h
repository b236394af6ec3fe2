#pragma once
// One message in the chat view: its Markdown rendered as it streams in, a line of timings under
// a finished reply, and its actions: copy, copy each code block, regenerate (a reply) or edit
// and resend (a user message). A reasoning model's <think> part is shown folded above the answer.
#include <QFrame>
#include <QString>

class QLabel;
class QTextBrowser;
class QHBoxLayout;
class QToolButton;

namespace lc::ui {

class MessageWidget : public QFrame {
    Q_OBJECT

public:
    MessageWidget(const QString& role, QWidget* parent = nullptr);

    void set_text(const QString& markdown, bool streaming);
    void set_stats_text(const QString& text);
    QString text() const { return text_; }
    QString role() const { return role_; }
    QTextBrowser* body() const { return body_; }
    QTextBrowser* reasoning() const { return reasoning_; }
    QToolButton* reasoning_toggle() const { return reasoning_toggle_; }

signals:
    void copy_requested(const QString& text);
    void regenerate_requested();
    void edit_requested();
    void branch_requested();

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    void fit_height();
    void rebuild_code_buttons();
    void show_reasoning(const QString& reasoning, bool thinking);

    QString role_;
    QString text_;
    bool streaming_ = false;
    QLabel* header_ = nullptr;
    QTextBrowser* body_ = nullptr;
    QToolButton* reasoning_toggle_ = nullptr;  // folds and unfolds reasoning_
    QTextBrowser* reasoning_ = nullptr;
    QLabel* stats_ = nullptr;
    QHBoxLayout* actions_ = nullptr;
    QHBoxLayout* code_actions_ = nullptr;
    QToolButton* redo_ = nullptr;
};

// The fenced code blocks (``` ... ```) of a Markdown text, without their fences.
QStringList code_blocks(const QString& markdown);

// A reply split into a reasoning model's thinking and its answer: "<think>R</think>A", or
// "R</think>A" where the template opened the <think> in the prompt (DeepSeek-R1). `thinking` is
// true while the reasoning is still open (streaming "<think>R..."). No tags: all answer.
struct ReplyParts {
    QString reasoning;
    QString answer;
    bool thinking = false;
};
ReplyParts split_reasoning(const QString& text);

}  // namespace lc::ui
