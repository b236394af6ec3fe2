#pragma once
// Which engine the chat runs on: the local model, or a remote endpoint (an OpenAI-compatible
// server: URL, API key, model, and optionally the model's config.json for the cache estimate).
// Kept in QSettings (group "remote_engine") except the API key: that goes to a file of its own
// readable by the user alone (0600), beside the settings file, as huggingface-cli keeps the
// hub token in ~/.cache/huggingface/token (no keyring library is among our dependencies).
#include <QGroupBox>
#include <QMetaType>
#include <QSettings>
#include <QString>

class QLabel;
class QLineEdit;
class QRadioButton;
class QPushButton;

namespace lc::ui {

struct RemoteEngineSettings {
    bool enabled = false;  // false: the local model
    QString url;           // http://host:port, .../v1, with or without "/"
    QString api_key;
    QString model;        // empty: the first model the server lists
    QString config_path;  // a config.json, model folder or GGUF for the cache estimate (optional)

    static RemoteEngineSettings load(QSettings& store);
    // Throws nothing: a key file that cannot be written is reported by the return value.
    bool save(QSettings& store) const;
    // The key file for this settings store: "<folder of the settings file>/remote-api-key".
    static QString key_file(const QSettings& store);

    bool operator==(const RemoteEngineSettings&) const = default;
};

// The "Engine" section of the settings dialog.
class RemoteEngineBox : public QGroupBox {
    Q_OBJECT

public:
    explicit RemoteEngineBox(const RemoteEngineSettings& settings, QWidget* parent = nullptr);
    RemoteEngineSettings settings() const;
    bool remote_chosen() const;
    // Empty when the choice can be used; else what is wrong (a remote engine without a URL).
    QString problem() const;
    QWidget* first_field() const;
    QWidget* last_field() const;

signals:
    void changed();

private:
    void update_enabled();

    QRadioButton *local_ = nullptr, *remote_ = nullptr;
    QLineEdit *url_ = nullptr, *api_key_ = nullptr, *model_ = nullptr, *config_ = nullptr;
    QPushButton* browse_config_ = nullptr;
    QLabel* status_ = nullptr;
};

}  // namespace lc::ui

Q_DECLARE_METATYPE(lc::ui::RemoteEngineSettings)
