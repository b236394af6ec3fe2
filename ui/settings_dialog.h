#pragma once
// Settings of one conversation: model folder (file dialog and validation), device, system
// prompt and sampling. OK stays disabled while the model folder is not a valid checkpoint.
#include <QDialog>

#include "conversation_settings.h"

class QLabel;
class QLineEdit;
class QDoubleSpinBox;
class QSpinBox;
class QComboBox;
class QPlainTextEdit;
class QCheckBox;
class QDialogButtonBox;

namespace lc::ui {

class RemoteEngineBox;

class SettingsDialog : public QDialog {
    Q_OBJECT

public:
    SettingsDialog(const ConversationSettings& settings, bool cuda_available,
                   QWidget* parent = nullptr);
    ConversationSettings settings() const;
    // Empty when `dir` holds a loadable config.json and weights index; else what is wrong.
    static QString validate_model_dir(const QString& dir);

private:
    void revalidate();

    QLineEdit* model_dir_ = nullptr;
    QLabel* model_status_ = nullptr;
    QComboBox* device_ = nullptr;
    QPlainTextEdit* system_prompt_ = nullptr;
    QDoubleSpinBox *temperature_ = nullptr, *top_p_ = nullptr, *min_p_ = nullptr,
                   *repetition_penalty_ = nullptr;
    QSpinBox *top_k_ = nullptr, *max_tokens_ = nullptr;
    QLineEdit* seed_ = nullptr;
    QCheckBox* random_seed_ = nullptr;
    QDialogButtonBox* buttons_ = nullptr;
    RemoteEngineBox* engine_ = nullptr;  // local model or remote endpoint
    ConversationSettings initial_;       // fields the dialog does not show pass through settings()
};

}  // namespace lc::ui
