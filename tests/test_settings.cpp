// The settings dialog shows a ConversationSettings, returns the edits, and keeps OK disabled
// while the model folder is not a checkpoint.
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTemporaryDir>
#include <QtTest>

#include "settings_dialog.h"

using lc::ui::ConversationSettings;
using lc::ui::SettingsDialog;

namespace {

const QString kBundled = QStringLiteral(LC_SOURCE_DIR "/resources/models/latentchat-stories-13m");

template <typename T>
T* child(const QWidget& parent, const char* name) {
    T* w = parent.findChild<T*>(QString::fromLatin1(name));
    if (!w) qWarning("no child %s", name);
    return w;
}

}  // namespace

class TestSettings : public QObject {
    Q_OBJECT

private slots:
    void fields_show_the_settings() {
        ConversationSettings s;
        s.model_dir = kBundled;
        s.system_prompt = QStringLiteral("Be brief.");
        s.temperature = 0.35;
        s.top_p = 0.9;
        s.top_k = 0;
        s.min_p = 0.1;
        s.repetition_penalty = 1.15;
        s.max_tokens = 300;
        s.seed = 12345;
        s.random_seed = false;
        SettingsDialog dialog(s, false);

        QCOMPARE(child<QLineEdit>(dialog, "modelDir")->text(), kBundled);
        QCOMPARE(child<QPlainTextEdit>(dialog, "systemPrompt")->toPlainText(), s.system_prompt);
        QCOMPARE(child<QDoubleSpinBox>(dialog, "temperature")->value(), 0.35);
        QCOMPARE(child<QDoubleSpinBox>(dialog, "topP")->value(), 0.9);
        QCOMPARE(child<QSpinBox>(dialog, "topK")->value(), 0);
        QCOMPARE(child<QSpinBox>(dialog, "topK")->text(), QStringLiteral("off"));
        QCOMPARE(child<QDoubleSpinBox>(dialog, "minP")->value(), 0.1);
        QCOMPARE(child<QDoubleSpinBox>(dialog, "repetitionPenalty")->value(), 1.15);
        QCOMPARE(child<QSpinBox>(dialog, "maxTokens")->value(), 300);
        QCOMPARE(child<QLineEdit>(dialog, "seed")->text(), QStringLiteral("12345"));
        QVERIFY(child<QLineEdit>(dialog, "seed")->isEnabled());
        QVERIFY(!child<QCheckBox>(dialog, "randomSeed")->isChecked());
        QCOMPARE(child<QComboBox>(dialog, "device")->currentData().toString(),
                 QStringLiteral("cpu"));

        const ConversationSettings back = dialog.settings();
        QCOMPARE(back.model_dir, s.model_dir);
        QCOMPARE(back.system_prompt, s.system_prompt);
        QCOMPARE(back.temperature, s.temperature);
        QCOMPARE(back.top_p, s.top_p);
        QCOMPARE(back.top_k, s.top_k);
        QCOMPARE(back.min_p, s.min_p);
        QCOMPARE(back.repetition_penalty, s.repetition_penalty);
        QCOMPARE(back.max_tokens, s.max_tokens);
        QCOMPARE(back.seed, s.seed);
        QCOMPARE(back.random_seed, s.random_seed);
        QCOMPARE(back.device, QStringLiteral("cpu"));
    }

    void settings_returns_the_edits() {
        SettingsDialog dialog(ConversationSettings{}, true);
        child<QLineEdit>(dialog, "modelDir")->setText(QString());
        child<QPlainTextEdit>(dialog, "systemPrompt")
            ->setPlainText(QStringLiteral("You are kind."));
        child<QDoubleSpinBox>(dialog, "temperature")->setValue(1.25);
        child<QDoubleSpinBox>(dialog, "topP")->setValue(0.5);
        child<QSpinBox>(dialog, "topK")->setValue(7);
        child<QDoubleSpinBox>(dialog, "minP")->setValue(0.2);
        child<QDoubleSpinBox>(dialog, "repetitionPenalty")->setValue(1.3);
        child<QSpinBox>(dialog, "maxTokens")->setValue(2048);
        auto* device = child<QComboBox>(dialog, "device");
        device->setCurrentIndex(device->findData(QStringLiteral("cuda")));
        auto* random = child<QCheckBox>(dialog, "randomSeed");
        auto* seed = child<QLineEdit>(dialog, "seed");
        random->setChecked(true);
        QVERIFY(!seed->isEnabled());
        random->setChecked(false);
        QVERIFY(seed->isEnabled());
        seed->setText(QStringLiteral("987654321"));

        const ConversationSettings s = dialog.settings();
        QCOMPARE(s.model_dir, QString());
        QCOMPARE(s.system_prompt, QStringLiteral("You are kind."));
        QCOMPARE(s.temperature, 1.25);
        QCOMPARE(s.top_p, 0.5);
        QCOMPARE(s.top_k, 7);
        QCOMPARE(s.min_p, 0.2);
        QCOMPARE(s.repetition_penalty, 1.3);
        QCOMPARE(s.max_tokens, 2048);
        QCOMPARE(s.device, QStringLiteral("cuda"));
        QCOMPARE(s.seed, quint64(987654321));
        QCOMPARE(s.random_seed, false);
    }

    void ranges_clamp() {
        SettingsDialog dialog(ConversationSettings{}, false);
        auto* temperature = child<QDoubleSpinBox>(dialog, "temperature");
        temperature->setValue(5);
        QCOMPARE(temperature->value(), 2.0);
        auto* max_tokens = child<QSpinBox>(dialog, "maxTokens");
        max_tokens->setValue(0);
        QCOMPARE(max_tokens->value(), 1);
        auto* seed = child<QLineEdit>(dialog, "seed");
        int pos = 0;
        QString letters = QStringLiteral("12a");
        QCOMPARE(seed->validator()->validate(letters, pos), QValidator::Invalid);
    }

    void cuda_only_when_available() {
        ConversationSettings s;
        s.device = QStringLiteral("cuda");
        SettingsDialog without(s, false);
        auto* device = child<QComboBox>(without, "device");
        QCOMPARE(device->currentData().toString(), QStringLiteral("cpu"));
        auto* items = qobject_cast<QStandardItemModel*>(device->model());
        QVERIFY(items != nullptr);
        QVERIFY(!items->item(device->findData(QStringLiteral("cuda")))->isEnabled());

        SettingsDialog with(s, true);
        QCOMPARE(child<QComboBox>(with, "device")->currentData().toString(),
                 QStringLiteral("cuda"));
    }

    void ok_follows_the_model_folder() {
        SettingsDialog dialog(ConversationSettings{}, false);
        auto* dir = child<QLineEdit>(dialog, "modelDir");
        auto* ok = child<QPushButton>(dialog, "okButton");
        auto* status = child<QLabel>(dialog, "modelStatus");
        QVERIFY(ok != nullptr);
        QVERIFY(ok->isEnabled());  // empty: the bundled model

        QTemporaryDir empty;
        QVERIFY(empty.isValid());
        dir->setText(empty.path());
        QVERIFY(!ok->isEnabled());
        QVERIFY2(status->text().contains(QStringLiteral("config.json")),
                 qPrintable(status->text()));

        dir->setText(kBundled);
        QVERIFY2(ok->isEnabled(), qPrintable(status->text()));
        QVERIFY2(status->text().contains(QStringLiteral("deepseek_v3")),
                 qPrintable(status->text()));
        QVERIFY2(status->text().contains(QStringLiteral("6 layers")), qPrintable(status->text()));
        QVERIFY2(status->text().contains(QStringLiteral("parameters")), qPrintable(status->text()));

        // A GGUF file is a model too (llama.cpp's conversion of a small checkpoint).
        dir->setText(QStringLiteral(LC_FIXTURES_DIR "/gguf_v2/model-Q4_K_M.gguf"));
        QVERIFY2(ok->isEnabled(), qPrintable(status->text()));
        QVERIFY2(status->text().contains(QStringLiteral("GGUF")), qPrintable(status->text()));
        QVERIFY2(status->text().contains(QStringLiteral("2 layers")), qPrintable(status->text()));
        // A cut download names the problem instead.
        QTemporaryDir cut_dir;
        const QString cut = cut_dir.filePath(QStringLiteral("cut.gguf"));
        QVERIFY(QFile::copy(QStringLiteral(LC_FIXTURES_DIR "/gguf_v2/model-Q4_K_M.gguf"), cut));
        QVERIFY(QFile::resize(cut, 4096));
        dir->setText(cut);
        QVERIFY(!ok->isEnabled());
        QVERIFY2(status->text().contains(QStringLiteral("cut.gguf")), qPrintable(status->text()));

        dir->setText(QString());
        QVERIFY(ok->isEnabled());

        // Not asserted: a picture for people to look at, with an invalid folder.
        dir->setText(empty.path());
        dialog.show();
        QCoreApplication::processEvents();
        dialog.grab().save(QStringLiteral("/tmp/settings_dialog.png"));
    }

    void validate_model_dir_messages() {
        QCOMPARE(SettingsDialog::validate_model_dir(QString()), QString());
        QCOMPARE(SettingsDialog::validate_model_dir(kBundled), QString());

        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        const QString missing = tmp.filePath(QStringLiteral("no-such-folder"));
        const QString m1 = SettingsDialog::validate_model_dir(missing);
        QVERIFY(!m1.isEmpty());
        QVERIFY2(m1.contains(missing), qPrintable(m1));

        const QString m2 = SettingsDialog::validate_model_dir(tmp.path());
        QVERIFY2(m2.contains(QStringLiteral("config.json")), qPrintable(m2));

        // A checkpoint without its tokenizer.
        for (const char* name : {"config.json", "generation_config.json", "model.safetensors"}) {
            QVERIFY(QFile::copy(kBundled + QLatin1Char('/') + QLatin1String(name),
                                tmp.filePath(QLatin1String(name))));
        }
        const QString m3 = SettingsDialog::validate_model_dir(tmp.path());
        QVERIFY2(m3.contains(QStringLiteral("tokenizer.json or tokenizer.model")), qPrintable(m3));

        // A published checkpoint's tokenizer.json will do.
        QFile json(tmp.filePath(QStringLiteral("tokenizer.json")));
        QVERIFY(json.open(QIODevice::WriteOnly));
        json.write("{}");
        json.close();
        QCOMPARE(SettingsDialog::validate_model_dir(tmp.path()), QString());
    }

    void every_control_is_named_and_labelled() {
        SettingsDialog dialog(ConversationSettings{}, false);
        for (const char* name :
             {"modelDir", "browseButton", "browseFileButton", "device", "systemPrompt",
              "temperature", "topP", "topK", "minP", "repetitionPenalty", "maxTokens", "seed",
              "randomSeed", "okButton", "cancelButton"}) {
            QWidget* w = child<QWidget>(dialog, name);
            QVERIFY2(w != nullptr, name);
            QVERIFY2(!w->accessibleName().isEmpty(), name);
        }
        // The engine section (remote_engine_settings.cpp).
        for (const char* name : {"engineLocal", "engineRemote", "remoteUrl", "remoteApiKey",
                                 "remoteModel", "remoteConfig", "remoteConfigBrowse"}) {
            QWidget* w = child<QWidget>(dialog, name);
            QVERIFY2(w != nullptr && !w->accessibleName().isEmpty(), name);
        }
        // Mnemonics: each field's label has one and is its buddy.
        int buddies = 0;
        for (QLabel* label : dialog.findChildren<QLabel*>()) {
            if (!label->buddy()) continue;
            ++buddies;
            QVERIFY2(label->text().contains(QLatin1Char('&')), qPrintable(label->text()));
        }
        QCOMPARE(buddies, 14);  // 10, and the engine's URL, key, model and config
    }
};

QTEST_MAIN(TestSettings)
#include "test_settings.moc"
