#include "server_panel.h"

#include <QBoxLayout>
#include <QDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <algorithm>

namespace lc::ui {

namespace {

void describe(QWidget* widget, const QString& name, const QString& description) {
    widget->setAccessibleName(name);
    widget->setAccessibleDescription(description);
    widget->setToolTip(description);
}

}  // namespace

ServerPanel::ServerPanel(LocalServer* server, const QString& model_dir, const QString& device,
                         QWidget* parent)
    : QGroupBox(tr("OpenAI-compatible server"), parent),
      server_(server),
      model_dir_(model_dir),
      device_(device) {
    setObjectName(QStringLiteral("serverPanel"));
    setAccessibleName(tr("OpenAI-compatible server"));

    host_ = new QLineEdit(QStringLiteral("127.0.0.1"));
    host_->setObjectName(QStringLiteral("serverHost"));
    describe(host_, tr("Server address"),
             tr("Where the server listens: 127.0.0.1 is this computer only; 0.0.0.0 lets other "
                "computers in"));
    port_ = new QSpinBox;
    port_->setObjectName(QStringLiteral("serverPort"));
    port_->setRange(0, 65535);
    port_->setSpecialValueText(tr("any free port"));
    port_->setValue(8080);
    describe(port_, tr("Server port"), tr("The TCP port the server listens on"));
    api_key_ = new QLineEdit;
    api_key_->setObjectName(QStringLiteral("serverApiKey"));
    api_key_->setEchoMode(QLineEdit::PasswordEchoOnEdit);
    api_key_->setPlaceholderText(tr("none: every program on this computer may use it"));
    describe(api_key_, tr("Server API key"),
             tr("When set, clients must send it as Authorization: Bearer KEY"));
    toggle_ = new QPushButton;
    toggle_->setObjectName(QStringLiteral("serverToggle"));
    status_ = new QLabel;
    status_->setObjectName(QStringLiteral("serverStatus"));
    status_->setWordWrap(true);
    address_ = new QLabel;
    address_->setObjectName(QStringLiteral("serverAddress"));
    address_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    address_->setAccessibleName(tr("Server address for clients"));
    auto* note = new QLabel(
        tr("The server loads its own instance of the current model, so its replies never wait "
           "for the chat or change it; the two share the processor (and a GPU's memory)."));
    note->setWordWrap(true);

    auto* address_row = new QHBoxLayout;
    address_row->setContentsMargins(0, 0, 0, 0);
    address_row->addWidget(host_, 1);
    address_row->addWidget(new QLabel(QStringLiteral(":")));
    address_row->addWidget(port_);
    auto* form = new QFormLayout(this);
    form->addRow(tr("Listen on:"), address_row);
    form->addRow(tr("API key:"), api_key_);
    form->addRow(toggle_, status_);
    form->addRow(tr("Clients use:"), address_);
    form->addRow(note);

    connect(toggle_, &QPushButton::clicked, this, &ServerPanel::toggle);
    connect(server_, &LocalServer::state_changed, this, &ServerPanel::show_state);
    show_state();
}

ServerPanel* ServerPanel::add_to(QDialog* dialog, LocalServer* server, const QString& model_dir,
                                 const QString& device) {
    auto* panel = new ServerPanel(server, model_dir, device, dialog);
    if (auto* layout = qobject_cast<QBoxLayout*>(dialog->layout()))
        layout->insertWidget(std::max(0, layout->count() - 1), panel);  // above the buttons
    else if (dialog->layout())
        dialog->layout()->addWidget(panel);
    auto* ok = dialog->findChild<QPushButton*>(QStringLiteral("okButton"));
    auto* cancel = dialog->findChild<QPushButton*>(QStringLiteral("cancelButton"));
    if (ok && cancel) {
        QWidget::setTabOrder(panel->toggle_, ok);
        QWidget::setTabOrder(ok, cancel);
    }
    return panel;
}

void ServerPanel::toggle() {
    if (server_->state() == LocalServer::State::Running) {
        server_->stop();
        return;
    }
    LocalServerOptions o;
    o.model_dir = model_dir_;
    o.device = device_;
    o.host = host_->text().trimmed();
    o.port = port_->value();
    o.api_key = api_key_->text();
    server_->start(o);
}

void ServerPanel::show_state() {
    using State = LocalServer::State;
    const State state = server_->state();
    const bool idle = state == State::Stopped || state == State::Failed;
    host_->setEnabled(idle);
    port_->setEnabled(idle);
    api_key_->setEnabled(idle);
    toggle_->setEnabled(idle || state == State::Running);
    toggle_->setText(state == State::Running ? tr("S&top server") : tr("St&art server"));
    describe(toggle_, toggle_->text().remove('&'),
             state == State::Running ? tr("Stop the server; a reply under way is cut")
                                     : tr("Start serving the current model over HTTP"));
    switch (state) {
        case State::Stopped:
            status_->setText(tr("Stopped"));
            break;
        case State::Starting:
            status_->setText(tr("Loading the model…"));
            break;
        case State::Running:
            status_->setText(
                server_->notice().isEmpty()
                    ? tr("Running: %1").arg(server_->model_name())
                    : tr("Running: %1 (%2)").arg(server_->model_name(), server_->notice()));
            break;
        case State::Stopping:
            status_->setText(tr("Stopping…"));
            break;
        case State::Failed:
            status_->setText(tr("Could not start: %1").arg(server_->error()));
            break;
    }
    status_->setAccessibleDescription(status_->text());
    address_->setText(state == State::Running ? server_->address() : tr("(not running)"));
}

}  // namespace lc::ui
