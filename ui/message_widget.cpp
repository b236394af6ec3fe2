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
    connect(copy, &QToolButton::clicked, this, [this] { emit copy_requested(text_); });
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
    body_->setMarkdown(markdown);
    redo_->setEnabled(!streaming);
    if (!streaming) rebuild_code_buttons();
    fit_height();
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
