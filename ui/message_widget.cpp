#include "message_widget.h"

#include <QAbstractTextDocumentLayout>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QLabel>
#include <QRegularExpression>
#include <QTextBrowser>
#include <QToolButton>
#include <QVBoxLayout>

namespace lc::ui {

QStringList code_blocks(const QString& markdown) {
    static const QRegularExpression fence("```[^\\n]*\\n(.*?)```",
                                          QRegularExpression::DotMatchesEverythingOption);
    QStringList blocks;
    for (auto it = fence.globalMatch(markdown); it.hasNext();)
        blocks << it.next().captured(1);
    return blocks;
}

ReplyParts split_reasoning(const QString& text) {
    static const QString open = QStringLiteral("<think>"), close = QStringLiteral("</think>");
    ReplyParts parts;
    qsizetype start = 0;
    const QString lead = text.trimmed();
    const bool opened = lead.startsWith(open);
    if (opened) start = text.indexOf(open) + open.size();
    const qsizetype end = text.indexOf(close, start);
    if (end < 0) {
        if (opened) {
            parts.reasoning = text.mid(start).trimmed();
            parts.thinking = true;
        } else {
            parts.answer = text;
        }
        return parts;
    }
    parts.reasoning = text.mid(start, end - start).trimmed();
    parts.answer = text.mid(end + close.size());
    while (parts.answer.startsWith('\n'))
        parts.answer.remove(0, 1);
    return parts;
}

MessageWidget::MessageWidget(const QString& role, QWidget* parent) : QFrame(parent), role_(role) {
    setFrameShape(QFrame::StyledPanel);
    setObjectName(role == "user" ? "userMessage" : "assistantMessage");
    // The system palette decides the colours, so light and dark themes both read well.
    setBackgroundRole(role == "user" ? QPalette::AlternateBase : QPalette::Base);
    setAutoFillBackground(true);
    setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Maximum);  // as tall as its text, no more

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(10, 6, 10, 6);
    header_ = new QLabel(role == "user" ? tr("You") : tr("Assistant"), this);
    QFont bold = header_->font();
    bold.setBold(true);
    header_->setFont(bold);
    layout->addWidget(header_);

    // A reasoning model's thinking: folded by default, one click away.
    reasoning_toggle_ = new QToolButton(this);
    reasoning_toggle_->setObjectName("reasoningToggle");
    reasoning_toggle_->setAccessibleName(tr("Show or hide the model's reasoning"));
    reasoning_toggle_->setCheckable(true);
    reasoning_toggle_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    reasoning_toggle_->setArrowType(Qt::RightArrow);
    reasoning_toggle_->setAutoRaise(true);
    reasoning_toggle_->setVisible(false);
    layout->addWidget(reasoning_toggle_);
    reasoning_ = new QTextBrowser(this);
    reasoning_->setObjectName("reasoningBody");
    reasoning_->setAccessibleName(tr("The model's reasoning"));
    reasoning_->setFrameShape(QFrame::NoFrame);
    reasoning_->setForegroundRole(QPalette::PlaceholderText);
    reasoning_->setVisible(false);
    layout->addWidget(reasoning_);
    connect(reasoning_toggle_, &QToolButton::toggled, this, [this](bool open) {
        reasoning_toggle_->setArrowType(open ? Qt::DownArrow : Qt::RightArrow);
        reasoning_->setVisible(open);
    });

    body_ = new QTextBrowser(this);
    body_->setObjectName("messageBody");
    body_->setAccessibleName(role == "user" ? tr("Your message") : tr("Assistant's reply"));
    body_->setFrameShape(QFrame::NoFrame);
    body_->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    body_->setHorizontalScrollBarPolicy(Qt::ScrollBarAsNeeded);
    body_->setOpenExternalLinks(true);
    body_->viewport()->setAutoFillBackground(false);
    // Code blocks in the system's fixed-width font.
    body_->document()->setDefaultStyleSheet(
        QString("pre, code { font-family: '%1'; }")
            .arg(QFontDatabase::systemFont(QFontDatabase::FixedFont).family()));
    layout->addWidget(body_);
    // The browser grows with its document instead of scrolling (the chat view scrolls): follow
    // the document's height whenever the text or the width changes.
    connect(body_->document()->documentLayout(), &QAbstractTextDocumentLayout::documentSizeChanged,
            this, [this] { fit_height(); });

    stats_ = new QLabel(this);
    stats_->setObjectName("replyStats");
    stats_->setAccessibleName(tr("Reply timings"));
    stats_->setForegroundRole(QPalette::PlaceholderText);
    stats_->setVisible(false);
    layout->addWidget(stats_);

    code_actions_ = new QHBoxLayout;
    layout->addLayout(code_actions_);
    actions_ = new QHBoxLayout;
    actions_->addStretch();
    auto* copy = new QToolButton(this);
    copy->setText(tr("Copy"));
    copy->setObjectName("copyButton");
    copy->setAccessibleName(tr("Copy message"));
    // A reply's answer, without the reasoning a reasoning model wrote first.
    connect(copy, &QToolButton::clicked, this, [this] {
        emit copy_requested(role_ == "assistant" ? split_reasoning(text_).answer : text_);
    });
    actions_->addWidget(copy);
    redo_ = new QToolButton(this);
    redo_->setText(role == "user" ? tr("Edit") : tr("Regenerate"));
    redo_->setObjectName(role == "user" ? "editButton" : "regenerateButton");
    redo_->setAccessibleName(role == "user" ? tr("Edit and resend") : tr("Regenerate reply"));
    connect(redo_, &QToolButton::clicked, this, [this] {
        if (role_ == "user")
            emit edit_requested();
        else
            emit regenerate_requested();
    });
    actions_->addWidget(redo_);
    auto* branch = new QToolButton(this);
    branch->setText(tr("Branch"));
    branch->setObjectName("branchButton");
    branch->setAccessibleName(tr("Start a new conversation from here"));
    branch->setToolTip(branch->accessibleName());
    connect(branch, &QToolButton::clicked, this, &MessageWidget::branch_requested);
    actions_->addWidget(branch);
    layout->addLayout(actions_);
}

void MessageWidget::set_text(const QString& markdown, bool streaming) {
    text_ = markdown;
    streaming_ = streaming;
    const ReplyParts parts =
        role_ == "assistant" ? split_reasoning(markdown) : ReplyParts{{}, markdown, false};
    show_reasoning(parts.reasoning, parts.thinking);
    body_->setMarkdown(parts.answer);
    redo_->setEnabled(!streaming);
    if (!streaming) rebuild_code_buttons();
    fit_height();
}

void MessageWidget::show_reasoning(const QString& reasoning, bool thinking) {
    const bool any = thinking || !reasoning.isEmpty();
    reasoning_toggle_->setVisible(any);
    if (!any) {
        reasoning_->setVisible(false);
        return;
    }
    const int words = static_cast<int>(reasoning.split(' ', Qt::SkipEmptyParts).size());
    reasoning_toggle_->setText(thinking ? tr("Thinking... (%n words)", nullptr, words)
                                        : tr("Reasoning (%n words)", nullptr, words));
    reasoning_->setPlainText(reasoning);
    reasoning_->setFixedHeight(
        std::min(static_cast<int>(reasoning_->document()->size().height()) + 8,
                 20 * fontMetrics().height()));
    reasoning_->setVisible(reasoning_toggle_->isChecked());
}

void MessageWidget::set_stats_text(const QString& text) {
    stats_->setText(text);
    stats_->setVisible(!text.isEmpty());
}

void MessageWidget::resizeEvent(QResizeEvent* event) {
    QFrame::resizeEvent(event);
    fit_height();
}

void MessageWidget::fit_height() {
    const int h =
        static_cast<int>(body_->document()->documentLayout()->documentSize().height()) + 8;
    body_->setFixedHeight(std::max(h, body_->fontMetrics().height() + 8));
}

void MessageWidget::rebuild_code_buttons() {
    while (QLayoutItem* item = code_actions_->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    const QStringList blocks = code_blocks(text_);
    for (int i = 0; i < blocks.size(); ++i) {
        auto* b = new QToolButton(this);
        b->setText(blocks.size() == 1 ? tr("Copy code") : tr("Copy code %1").arg(i + 1));
        b->setObjectName("copyCodeButton");
        b->setAccessibleName(b->text());
        const QString code = blocks[i];
        connect(b, &QToolButton::clicked, this, [this, code] { emit copy_requested(code); });
        code_actions_->addWidget(b);
    }
    if (!blocks.isEmpty()) code_actions_->addStretch();
}

}  // namespace lc::ui
