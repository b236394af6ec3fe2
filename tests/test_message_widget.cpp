// A message in the chat view: a reasoning model's <think> part folded above the answer, and Copy
// taking the answer alone.
#include <QClipboard>
#include <QSignalSpy>
#include <QTextBrowser>
#include <QToolButton>
#include <QtTest>

#include "message_widget.h"

using lc::ui::MessageWidget;
using lc::ui::split_reasoning;

class TestMessageWidget : public QObject {
    Q_OBJECT

private slots:
    void splits_reasoning_from_the_answer() {
        auto p = split_reasoning("<think>\nWeigh the options.\n</think>\n\nThe answer is 4.");
        QCOMPARE(p.reasoning, QString("Weigh the options."));
        QCOMPARE(p.answer, QString("The answer is 4."));
        QVERIFY(!p.thinking);
        // DeepSeek-R1's template opens <think> in the prompt: the reply only closes it.
        p = split_reasoning("First, 2 + 2.\n</think>\nFour.");
        QCOMPARE(p.reasoning, QString("First, 2 + 2."));
        QCOMPARE(p.answer, QString("Four."));
        // Still thinking while it streams.
        p = split_reasoning("<think>Let me see");
        QCOMPARE(p.reasoning, QString("Let me see"));
        QVERIFY(p.answer.isEmpty());
        QVERIFY(p.thinking);
        // No tags, or a tag quoted in the middle of an answer: all answer.
        p = split_reasoning("Use <think> tags in HTML-like markup.");
        QCOMPARE(p.answer, QString("Use <think> tags in HTML-like markup."));
        QVERIFY(p.reasoning.isEmpty() && !p.thinking);
    }

    void reasoning_is_folded_and_opens_on_click() {
        MessageWidget w("assistant");
        w.resize(500, 300);
        w.show();
        w.set_text("<think>Weigh the options.</think>The answer is **4**.", false);
        QVERIFY(w.reasoning_toggle()->isVisible());
        QVERIFY(!w.reasoning()->isVisible());
        QVERIFY(w.reasoning_toggle()->text().contains("Reasoning"));
        QCOMPARE(w.body()->toPlainText().trimmed(), QString("The answer is 4."));
        QVERIFY(!w.body()->toPlainText().contains("Weigh"));
        QTest::mouseClick(w.reasoning_toggle(), Qt::LeftButton);
        QVERIFY(w.reasoning()->isVisible());
        QCOMPARE(w.reasoning()->toPlainText(), QString("Weigh the options."));
        QTest::mouseClick(w.reasoning_toggle(), Qt::LeftButton);
        QVERIFY(!w.reasoning()->isVisible());
        QCOMPARE(w.text(), QString("<think>Weigh the options.</think>The answer is **4**."));

        QSignalSpy copied(&w, &MessageWidget::copy_requested);
        QTest::mouseClick(w.findChild<QToolButton*>("copyButton"), Qt::LeftButton);
        QCOMPARE(copied.count(), 1);
        QCOMPARE(copied.first().at(0).toString(), QString("The answer is **4**."));
    }

    void streaming_reasoning_says_it_is_thinking() {
        MessageWidget w("assistant");
        w.show();
        w.set_text("<think>Step one, step two", true);
        QVERIFY(w.reasoning_toggle()->isVisible());
        QVERIFY(w.reasoning_toggle()->text().contains("Thinking"));
        QVERIFY(w.body()->toPlainText().trimmed().isEmpty());
        w.set_text("<think>Step one, step two</think>Done.", false);
        QVERIFY(w.reasoning_toggle()->text().contains("Reasoning"));
        QCOMPARE(w.body()->toPlainText().trimmed(), QString("Done."));
    }

    void plain_replies_and_user_messages_have_no_reasoning() {
        MessageWidget reply("assistant");
        reply.show();
        reply.set_text("Just an answer.", false);
        QVERIFY(!reply.reasoning_toggle()->isVisible());
        MessageWidget user("user");
        user.show();
        user.set_text("<think>not a model's</think>hi", false);
        QVERIFY(!user.reasoning_toggle()->isVisible());
        QVERIFY(user.body()->toPlainText().contains("not a model's"));
    }
};

QTEST_MAIN(TestMessageWidget)
#include "test_message_widget.moc"
