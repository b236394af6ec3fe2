#include "local_server.h"

#include <sys/resource.h>
#include <unistd.h>

#include <QMetaObject>
#include <QThread>
#include <exception>

#include "server/api_server.h"
#include "session/open_model.h"

namespace lc::ui {

LocalServer::LocalServer(QObject* parent) : QObject(parent) {}

LocalServer::~LocalServer() {
    wait_for_helper();
    if (server_) server_->stop();
}

void LocalServer::wait_for_helper() {
    if (!helper_) return;
    helper_->wait();
    delete helper_;
    helper_ = nullptr;
}

int LocalServer::replies_served() const {
    return server_ ? static_cast<int>(server_->stats().completed) : 0;
}

void LocalServer::set_state(State state) {
    state_ = state;
    emit state_changed();
}

void LocalServer::start(const LocalServerOptions& options) {
    if (state_ == State::Starting || state_ == State::Running || state_ == State::Stopping) return;
    wait_for_helper();
    error_.clear();
    address_.clear();
    set_state(State::Starting);
    // Loading takes from milliseconds to minutes; the window must not wait for it.
    helper_ = QThread::create([this, options] {
        // As the chat's worker: a little "nicer" than the GUI thread, set before the model's
        // pool, the engine thread and the connection threads are created here, so they all
        // inherit it and the window stays responsive while the server generates.
        setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 5);
        std::shared_ptr<server::ApiServer> started;
        QString failure, notice;
        try {
            OpenOptions open;
            open.path = options.model_dir.trimmed().toStdString();
            open.source_models = LATENTCHAT_SOURCE_MODELS;
            open.device = parse_device(options.device.toStdString());
            server::ServerOptions serve;
            serve.host = options.host.trimmed().toStdString();
            serve.port = options.port;
            serve.api_key = options.api_key.toStdString();
            OpenedModel opened = open_model(open);
            notice = QString::fromStdString(opened.notice);  // a GPU that could not be used
            started = std::make_shared<server::ApiServer>(std::move(opened), serve);
            started->start();
        } catch (const std::exception& e) {
            started.reset();
            failure = QString::fromUtf8(e.what());
        }
        QMetaObject::invokeMethod(
            this,
            [this, started, failure, notice] {
                server_ = started;
                notice_ = notice;
                if (server_) {
                    address_ = QString::fromStdString(server_->base_url());
                    model_name_ = QString::fromStdString(server_->model_name());
                    set_state(State::Running);
                } else {
                    error_ = failure;
                    set_state(State::Failed);
                }
            },
            Qt::QueuedConnection);
    });
    helper_->start();
}

void LocalServer::stop() {
    if (state_ != State::Running || !server_) return;
    wait_for_helper();
    set_state(State::Stopping);
    // Stopping waits for every connection's thread (a slow client may hold one for seconds).
    std::shared_ptr<server::ApiServer> stopping = std::move(server_);
    helper_ = QThread::create([this, stopping] {
        stopping->stop();
        QMetaObject::invokeMethod(
            this,
            [this] {
                address_.clear();
                set_state(State::Stopped);
            },
            Qt::QueuedConnection);
    });
    helper_->start();
}

}  // namespace lc::ui
