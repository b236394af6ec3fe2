#include "remote_engine_settings.h"

#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QSaveFile>
#include <QVBoxLayout>
#include <exception>

#include "remote/openai_client.h"

namespace lc::ui {

QString RemoteEngineSettings::key_file(const QSettings& store) {
    return QFileInfo(store.fileName()).absolutePath() + QStringLiteral("/remote-api-key");
}

RemoteEngineSettings RemoteEngineSettings::load(QSettings& store) {
    RemoteEngineSettings s;
    store.beginGroup(QStringLiteral("remote_engine"));
    const QString engine = store.value("engine", "local").toString();
    s.enabled = engine == QLatin1String("remote");
    s.url = store.value("url").toString();
    s.model = store.value("model").toString();
    s.config_path = store.value("config_path").toString();
    store.endGroup();
    QFile file(key_file(store));
    if (file.open(QIODevice::ReadOnly)) s.api_key = QString::fromUtf8(file.readAll()).trimmed();
    return s;
}

bool RemoteEngineSettings::save(QSettings& store) const {
    store.beginGroup(QStringLiteral("remote_engine"));
    store.setValue("engine", enabled ? "remote" : "local");
    store.setValue("url", url);
    store.setValue("model", model);
    store.setValue("config_path", config_path);
    store.endGroup();
    const QString path = key_file(store);
    if (api_key.isEmpty()) return !QFileInfo::exists(path) || QFile::remove(path);
    QDir().mkpath(QFileInfo(path).absolutePath());
    // Written whole, and readable by the user alone before the key is in it.
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) return false;
    file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    file.write(api_key.toUtf8());
    file.write("\n");
    return file.commit() &&
           QFile::setPermissions(path, QFileDevice::ReadOwner | QFileDevice::WriteOwner);
}

namespace {

void describe(QWidget* widget, const QString& name, const QString& description) {
    widget->setAccessibleName(name);
    widget->setAccessibleDescription(description);
    widget->setToolTip(description);
}

}  // namespace

RemoteEngineBox::RemoteEngineBox(const RemoteEngineSettings& s, QWidget* parent)
    : QGroupBox(tr("Engine"), parent) {
    setObjectName(QStringLiteral("engineBox"));
    local_ = new QRadioButton(tr("&Local model"));
    local_->setObjectName(QStringLiteral("engineLocal"));
    describe(local_, tr("Local model"), tr("Chat with the model folder or GGUF file above"));
    remote_ = new QRadioButton(tr("Remote endpoint (Open&AI-compatible)"));
    remote_->setObjectName(QStringLiteral("engineRemote"));
    describe(remote_, tr("Remote endpoint"),
             tr("Chat through a vLLM, SGLang or latentchat-cli serve server"));
    (s.enabled ? remote_ : local_)->setChecked(true);

    url_ = new QLineEdit(s.url);
    url_->setObjectName(QStringLiteral("remoteUrl"));
    url_->setPlaceholderText(QStringLiteral("http://127.0.0.1:8000/v1"));
    describe(url_, tr("Server URL"), tr("http://host:port or http://host:port/v1"));
    api_key_ = new QLineEdit(s.api_key);
    api_key_->setObjectName(QStringLiteral("remoteApiKey"));
    api_key_->setEchoMode(QLineEdit::Password);
    api_key_->setPlaceholderText(tr("none"));
    describe(api_key_, tr("API key"),
             tr("Sent as a Bearer token; kept in a file only you can read, not in the settings"));
    model_ = new QLineEdit(s.model);
    model_->setObjectName(QStringLiteral("remoteModel"));
    model_->setPlaceholderText(tr("the first model the server lists"));
    describe(model_, tr("Remote model"), tr("The model name the server answers to"));
    config_ = new QLineEdit(s.config_path);
    config_->setObjectName(QStringLiteral("remoteConfig"));
    config_->setPlaceholderText(tr("found by the model's name when possible"));
    describe(config_, tr("Model configuration"),
             tr("The model's config.json (or folder, or GGUF file), for the cache estimate"));
    browse_config_ = new QPushButton(tr("config.&json…"));
    browse_config_->setObjectName(QStringLiteral("remoteConfigBrowse"));
    describe(browse_config_, tr("Browse for config.json"),
             tr("Choose the remote model's config.json in a file dialog"));
    connect(browse_config_, &QPushButton::clicked, this, [this] {
        const QString file = QFileDialog::getOpenFileName(
            this, tr("The remote model's configuration"),
            config_->text().isEmpty() ? QDir::homePath() : config_->text(),
            tr("Model configuration (config.json *.json *.gguf)"));
        if (!file.isEmpty()) config_->setText(QDir::toNativeSeparators(file));
    });
    status_ = new QLabel;
    status_->setObjectName(QStringLiteral("remoteStatus"));
    status_->setWordWrap(true);
    status_->setAccessibleName(tr("Remote endpoint status"));

    auto* config_row = new QHBoxLayout;
    config_row->setContentsMargins(0, 0, 0, 0);
    config_row->addWidget(config_, 1);
    config_row->addWidget(browse_config_);
    auto* form = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    auto add_row = [&](const QString& text, QWidget* buddy, QLayout* field = nullptr) {
        auto* label = new QLabel(text);
        label->setBuddy(buddy);
        if (field)
            form->addRow(label, field);
        else
            form->addRow(label, buddy);
    };
    add_row(tr("&URL:"), url_);
    add_row(tr("API ke&y:"), api_key_);
    add_row(tr("M&odel:"), model_);
    add_row(tr("&Config:"), config_, config_row);
    form->addRow(QString(), status_);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(local_);
    layout->addWidget(remote_);
    layout->addLayout(form);

    for (QLineEdit* e : {url_, api_key_, model_, config_})
        connect(e, &QLineEdit::textChanged, this, [this] {
            update_enabled();
            emit changed();
        });
    connect(remote_, &QRadioButton::toggled, this, [this] {
        update_enabled();
        emit changed();
    });
    setTabOrder(local_, remote_);
    setTabOrder(remote_, url_);
    setTabOrder(url_, api_key_);
    setTabOrder(api_key_, model_);
    setTabOrder(model_, config_);
    setTabOrder(config_, browse_config_);
    update_enabled();
}

bool RemoteEngineBox::remote_chosen() const {
    return remote_->isChecked();
}

QWidget* RemoteEngineBox::first_field() const {
    return local_;
}

QWidget* RemoteEngineBox::last_field() const {
    return browse_config_;
}

QString RemoteEngineBox::problem() const {
    if (!remote_chosen()) return QString();
    try {
        lc::remote::normalize_base_url(url_->text().toStdString());
    } catch (const std::exception& e) {
        return QString::fromUtf8(e.what());
    }
    return QString();
}

void RemoteEngineBox::update_enabled() {
    const bool on = remote_chosen();
    for (QWidget* w :
         std::initializer_list<QWidget*>{url_, api_key_, model_, config_, browse_config_})
        w->setEnabled(on);
    const QString why = problem();
    status_->setText(
        on ? (why.isEmpty() ? tr("Chat goes to %1")
                                  .arg(QString::fromStdString(
                                      lc::remote::normalize_base_url(url_->text().toStdString())))
                            : why)
           : QString());
    status_->setAccessibleDescription(status_->text());
}

RemoteEngineSettings RemoteEngineBox::settings() const {
    RemoteEngineSettings s;
    s.enabled = remote_chosen();
    s.url = url_->text().trimmed();
    s.api_key = api_key_->text().trimmed();
    s.model = model_->text().trimmed();
    s.config_path = config_->text().trimmed();
    return s;
}

}  // namespace lc::ui
