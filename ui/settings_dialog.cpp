#include "settings_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpressionValidator>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QVBoxLayout>
#include <cmath>
#include <exception>
#include <filesystem>

#include "base/error.h"
#include "remote_engine_settings.h"
#include "session/model_files.h"

namespace lc::ui {

namespace {

std::filesystem::path to_path(const QString& dir) {
    return std::filesystem::path(dir.toStdString());
}

// "950", "13.0 k", "12.8 M", "671 B" parameters.
QString format_parameters(double n) {
    static const char* const kSuffixes[] = {"", " k", " M", " B", " T"};
    int unit = 0;
    while (n >= 999.5 && unit < 4) {
        n /= 1000.0;
        ++unit;
    }
    if (unit == 0) return QString::number(static_cast<qlonglong>(std::llround(n)));
    const int decimals = n < 9.995 ? 2 : (n < 99.95 ? 1 : 0);
    return QLocale().toString(n, 'f', decimals) + QLatin1String(kSuffixes[unit]);
}

// Checks `dir` as validate_model_dir does; on success `description` says what the model is.
QString check_model_dir(const QString& dir, QString* description) {
    if (dir.trimmed().isEmpty()) {
        if (description) *description = SettingsDialog::tr("The bundled model");
        return QString();
    }
    try {
        const std::filesystem::path path = to_path(dir);
        // Maps the files and parses their headers; no weight is read.
        const lc::ModelFiles files = lc::inspect_model(path);
        // A GGUF file carries its tokenizer; published folders ship tokenizer.json, SentencePiece
        // ones tokenizer.model.
        const QDir folder(dir);
        if (!files.gguf && !QFileInfo(folder.filePath(QStringLiteral("tokenizer.json"))).isFile() &&
            !QFileInfo(folder.filePath(QStringLiteral("tokenizer.model"))).isFile())
            return SettingsDialog::tr("no tokenizer (tokenizer.json or tokenizer.model) in %1")
                .arg(dir);
        if (description) {
            const int layers = files.config.num_hidden_layers;
            *description = SettingsDialog::tr("%1, %2, %3 parameters")
                               .arg(QString::fromUtf8(files.config.model_type_name()),
                                    layers == 1 ? SettingsDialog::tr("1 layer")
                                                : SettingsDialog::tr("%1 layers").arg(layers),
                                    format_parameters(static_cast<double>(files.parameters)));
            if (files.gguf)
                *description += SettingsDialog::tr(", GGUF %1 bits per weight")
                                    .arg(QLocale().toString(files.bits_per_weight, 'f', 1));
        }
        return QString();
    } catch (const std::exception& e) {
        QString message = QString::fromStdString(e.what());
        return message.isEmpty()
                   ? SettingsDialog::tr("%1 is not a model folder or GGUF file").arg(dir)
                   : message;
    }
}

QDoubleSpinBox* make_double_spin(const char* name, double min, double max, double step,
                                 int decimals, double value) {
    auto* spin = new QDoubleSpinBox;
    spin->setObjectName(QString::fromLatin1(name));
    spin->setRange(min, max);
    spin->setSingleStep(step);
    spin->setDecimals(decimals);
    spin->setValue(value);
    return spin;
}

void describe(QWidget* widget, const QString& name, const QString& description) {
    widget->setAccessibleName(name);
    widget->setAccessibleDescription(description);
    widget->setToolTip(description);
}

}  // namespace

SettingsDialog::SettingsDialog(const ConversationSettings& settings, bool cuda_available,
                               QWidget* parent)
    : QDialog(parent), initial_(settings) {
    setWindowTitle(tr("Conversation settings"));
    setAccessibleName(tr("Conversation settings"));
    setAccessibleDescription(tr("Model, device, system prompt and sampling of this conversation"));

    // Model folder: the field, a Browse button and the validation result under them.
    model_dir_ = new QLineEdit(settings.model_dir);
    model_dir_->setObjectName(QStringLiteral("modelDir"));
    model_dir_->setPlaceholderText(tr("the bundled model"));
    model_dir_->setClearButtonEnabled(true);
    describe(model_dir_, tr("Model folder"),
             tr("Folder with config.json, safetensors weights and tokenizer.json or "
                "tokenizer.model, or a GGUF file; empty for the bundled model"));
    auto* browse = new QPushButton(tr("&Browse…"));
    browse->setObjectName(QStringLiteral("browseButton"));
    describe(browse, tr("Browse for model folder"), tr("Choose the model folder in a file dialog"));
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString start = model_dir_->text().isEmpty() ? QDir::homePath() : model_dir_->text();
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Model folder"), start);
        if (!dir.isEmpty()) model_dir_->setText(QDir::toNativeSeparators(dir));
    });
    // GGUF models are single files (or the first of a split set), so they get a file dialog.
    auto* browse_file = new QPushButton(tr("&GGUF file…"));
    browse_file->setObjectName(QStringLiteral("browseFileButton"));
    describe(browse_file, tr("Browse for GGUF file"),
             tr("Choose a quantized model file (.gguf) in a file dialog"));
    connect(browse_file, &QPushButton::clicked, this, [this] {
        const QFileInfo current(model_dir_->text());
        const QString start = model_dir_->text().isEmpty() ? QDir::homePath()
                              : current.isFile()           ? current.absolutePath()
                                                           : model_dir_->text();
        const QString file = QFileDialog::getOpenFileName(this, tr("GGUF model file"), start,
                                                          tr("GGUF models (*.gguf)"));
        if (!file.isEmpty()) model_dir_->setText(QDir::toNativeSeparators(file));
    });
    auto* model_row = new QHBoxLayout;
    model_row->setContentsMargins(0, 0, 0, 0);
    model_row->addWidget(model_dir_, 1);
    model_row->addWidget(browse);
    model_row->addWidget(browse_file);

    model_status_ = new QLabel;
    model_status_->setObjectName(QStringLiteral("modelStatus"));
    model_status_->setWordWrap(true);
    model_status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    model_status_->setAccessibleName(tr("Model folder status"));

    device_ = new QComboBox;
    device_->setObjectName(QStringLiteral("device"));
    device_->addItem(tr("CPU"), QStringLiteral("cpu"));
    device_->addItem(tr("CUDA"), QStringLiteral("cuda"));
    if (!cuda_available) {
        if (auto* items = qobject_cast<QStandardItemModel*>(device_->model())) {
            QStandardItem* cuda = items->item(1);
            cuda->setEnabled(false);
            cuda->setToolTip(tr("No CUDA device, or this build has no CUDA backend"));
        }
    }
    const int device_index = device_->findData(settings.device);
    device_->setCurrentIndex(device_index == 1 && cuda_available ? 1 : 0);
    describe(device_, tr("Device"),
             cuda_available ? tr("Where the model runs")
                            : tr("Where the model runs; CUDA is not available here"));

    system_prompt_ = new QPlainTextEdit(settings.system_prompt);
    system_prompt_->setObjectName(QStringLiteral("systemPrompt"));
    system_prompt_->setTabChangesFocus(true);
    system_prompt_->setPlaceholderText(tr("Optional instructions the model sees first"));
    system_prompt_->setMinimumHeight(60);
    system_prompt_->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    describe(system_prompt_, tr("System prompt"),
             tr("Instructions placed before the conversation"));

    temperature_ = make_double_spin("temperature", 0.0, 2.0, 0.05, 2, settings.temperature);
    describe(temperature_, tr("Temperature"),
             tr("Randomness of sampling: 0 always picks the most likely token"));
    top_p_ = make_double_spin("topP", 0.01, 1.0, 0.05, 2, settings.top_p);
    describe(top_p_, tr("Top-p"),
             tr("Sample only from the most likely tokens whose probabilities add up to this"));
    top_k_ = new QSpinBox;
    top_k_->setObjectName(QStringLiteral("topK"));
    top_k_->setRange(0, 1000);
    top_k_->setSpecialValueText(tr("off"));
    top_k_->setValue(settings.top_k);
    describe(top_k_, tr("Top-k"), tr("Sample only from this many most likely tokens; 0 is off"));
    min_p_ = make_double_spin("minP", 0.0, 0.99, 0.01, 2, settings.min_p);
    describe(min_p_, tr("Min-p"),
             tr("Drop tokens less likely than this fraction of the most likely one; 0 is off"));
    repetition_penalty_ =
        make_double_spin("repetitionPenalty", 0.5, 2.0, 0.05, 2, settings.repetition_penalty);
    describe(repetition_penalty_, tr("Repetition penalty"),
             tr("Above 1 makes tokens already in the conversation less likely; 1 is off"));
    max_tokens_ = new QSpinBox;
    max_tokens_->setObjectName(QStringLiteral("maxTokens"));
    max_tokens_->setRange(1, 8192);
    max_tokens_->setValue(settings.max_tokens);
    describe(max_tokens_, tr("Maximum tokens"), tr("The longest reply, in tokens"));

    seed_ = new QLineEdit(QString::number(settings.seed));
    seed_->setObjectName(QStringLiteral("seed"));
    // Up to 19 digits always fits in 64 bits.
    seed_->setValidator(
        new QRegularExpressionValidator(QRegularExpression(QStringLiteral("[0-9]{0,19}")), seed_));
    describe(seed_, tr("Seed"), tr("Seed of the random sampler; the same seed repeats a reply"));
    random_seed_ = new QCheckBox(tr("&New seed for every reply"));
    random_seed_->setObjectName(QStringLiteral("randomSeed"));
    random_seed_->setChecked(settings.random_seed);
    describe(random_seed_, tr("New seed for every reply"),
             tr("Draw a fresh seed for every reply instead of using the seed field"));
    seed_->setEnabled(!settings.random_seed);
    connect(random_seed_, &QCheckBox::toggled, seed_, [this](bool on) { seed_->setEnabled(!on); });
    auto* seed_row = new QHBoxLayout;
    seed_row->setContentsMargins(0, 0, 0, 0);
    seed_row->addWidget(seed_, 1);
    seed_row->addWidget(random_seed_);

    buttons_ = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    buttons_->setObjectName(QStringLiteral("buttons"));
    QPushButton* ok = buttons_->button(QDialogButtonBox::Ok);
    ok->setObjectName(QStringLiteral("okButton"));
    describe(ok, tr("OK"), tr("Use these settings"));
    QPushButton* cancel = buttons_->button(QDialogButtonBox::Cancel);
    cancel->setObjectName(QStringLiteral("cancelButton"));
    describe(cancel, tr("Cancel"), tr("Close without changing the settings"));
    connect(buttons_, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);

    // Labels with mnemonics; each label's buddy is its field.
    auto* form = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    auto add_row = [&](const QString& text, QWidget* buddy, QLayout* field) {
        auto* label = new QLabel(text);
        label->setBuddy(buddy);
        if (field)
            form->addRow(label, field);
        else
            form->addRow(label, buddy);
    };
    add_row(tr("&Model folder:"), model_dir_, model_row);
    form->addRow(QString(), model_status_);
    add_row(tr("&Device:"), device_, nullptr);
    add_row(tr("&System prompt:"), system_prompt_, nullptr);
    add_row(tr("&Temperature:"), temperature_, nullptr);
    add_row(tr("Top-&p:"), top_p_, nullptr);
    add_row(tr("Top-&k:"), top_k_, nullptr);
    add_row(tr("M&in-p:"), min_p_, nullptr);
    add_row(tr("&Repetition penalty:"), repetition_penalty_, nullptr);
    add_row(tr("Ma&x tokens:"), max_tokens_, nullptr);
    add_row(tr("S&eed:"), seed_, seed_row);

    engine_ = new RemoteEngineBox(settings.remote);
    connect(engine_, &RemoteEngineBox::changed, this, &SettingsDialog::revalidate);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form, 1);
    layout->addWidget(engine_);
    layout->addWidget(buttons_);

    // Tab order follows the form top to bottom, then OK and Cancel.
    QWidget* order[] = {model_dir_,   browse, browse_file,  device_, system_prompt_,
                        temperature_, top_p_, top_k_,       min_p_,  repetition_penalty_,
                        max_tokens_,  seed_,  random_seed_, ok,      cancel};
    for (size_t i = 1; i < std::size(order); ++i)
        setTabOrder(order[i - 1], order[i]);
    setTabOrder(random_seed_, engine_->first_field());
    setTabOrder(engine_->last_field(), ok);

    connect(model_dir_, &QLineEdit::textChanged, this, &SettingsDialog::revalidate);
    revalidate();
    setMinimumWidth(460);
    model_dir_->setFocus();
}

ConversationSettings SettingsDialog::settings() const {
    ConversationSettings s = initial_;
    s.model_dir = model_dir_->text().trimmed();
    s.device = device_->currentData().toString();
    s.system_prompt = system_prompt_->toPlainText();
    s.temperature = temperature_->value();
    s.top_p = top_p_->value();
    s.top_k = top_k_->value();
    s.min_p = min_p_->value();
    s.repetition_penalty = repetition_penalty_->value();
    s.max_tokens = max_tokens_->value();
    bool ok = false;
    const quint64 seed = seed_->text().toULongLong(&ok);
    s.seed = ok ? seed : 0;
    s.random_seed = random_seed_->isChecked();
    s.remote = engine_->settings();
    return s;
}

QString SettingsDialog::validate_model_dir(const QString& dir) {
    return check_model_dir(dir, nullptr);
}

void SettingsDialog::revalidate() {
    QString description;
    const QString error = check_model_dir(model_dir_->text(), &description);
    const bool valid = error.isEmpty();
    QPalette palette = model_status_->palette();
    palette.setColor(QPalette::WindowText, valid ? this->palette().color(QPalette::WindowText)
                                                 : QColor(0xc6, 0x28, 0x28));
    model_status_->setPalette(palette);
    model_status_->setText(valid ? description : error);
    model_status_->setAccessibleDescription(model_status_->text());
    model_dir_->setAccessibleDescription(valid ? tr("Model folder: %1").arg(description)
                                               : tr("Invalid model folder: %1").arg(error));
    // A remote engine needs its URL; the local model folder then need not be valid.
    const bool remote = engine_ && engine_->remote_chosen();
    buttons_->button(QDialogButtonBox::Ok)
        ->setEnabled(remote ? engine_->problem().isEmpty() : valid);
}

}  // namespace lc::ui
