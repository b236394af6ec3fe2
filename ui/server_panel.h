#pragma once
// The Settings section for the app's OpenAI-compatible server: host, port and API key,
// Start/Stop, the address clients use ("http://127.0.0.1:8080/v1") and the server's state. The
// server itself is a LocalServer the main window owns, so it keeps running when Settings close.
#include <QGroupBox>

#include "local_server.h"

class QDialog;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace lc::ui {

class ServerPanel : public QGroupBox {
    Q_OBJECT

public:
    // Serves `model_dir` on `device` (the chat's current model) when started.
    ServerPanel(LocalServer* server, const QString& model_dir, const QString& device,
                QWidget* parent = nullptr);

    // Puts a panel at the end of `dialog`'s sections, above its OK and Cancel buttons, and in
    // its tab order before them. The Settings dialog itself knows nothing of the server.
    static ServerPanel* add_to(QDialog* dialog, LocalServer* server, const QString& model_dir,
                               const QString& device);

private:
    void toggle();
    void show_state();

    LocalServer* server_;
    QString model_dir_, device_;
    QLineEdit* host_ = nullptr;
    QSpinBox* port_ = nullptr;
    QLineEdit* api_key_ = nullptr;
    QPushButton* toggle_ = nullptr;
    QLabel* status_ = nullptr;
    QLabel* address_ = nullptr;
};

}  // namespace lc::ui
