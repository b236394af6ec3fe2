#pragma once
// The app's OpenAI-compatible server: the same core/server/api_server.h as `latentchat-cli
// serve`, with its own instance of the model (docs/design.md section 9.4: the chat's worker
// keeps its engine, so neither waits for the other). Loading and stopping run on a thread of
// their own; the window only sees state_changed(). Owned by the main window, so the server runs
// on after the Settings dialog that started it has closed.
#include <QObject>
#include <QString>
#include <memory>

class QThread;

namespace lc::server {
class ApiServer;
}

namespace lc::ui {

struct LocalServerOptions {
    QString model_dir;  // empty: the bundled model
    QString device = QStringLiteral("cpu");
    QString host = QStringLiteral("127.0.0.1");
    int port = 8080;  // 0: any free port
    QString api_key;  // empty: none asked
};

class LocalServer : public QObject {
    Q_OBJECT

public:
    enum class State { Stopped, Starting, Running, Stopping, Failed };

    explicit LocalServer(QObject* parent = nullptr);
    ~LocalServer() override;  // waits for a start or stop under way, then stops the server

    void start(const LocalServerOptions& options);
    void stop();

    State state() const { return state_; }
    QString address() const { return address_; }  // "http://127.0.0.1:8080/v1" while running
    QString model_name() const { return model_name_; }
    QString error() const { return error_; }    // why the last start failed
    QString notice() const { return notice_; }  // e.g. CUDA asked for but the CPU in use
    int replies_served() const;

signals:
    void state_changed();

private:
    void set_state(State state);
    void wait_for_helper();

    State state_ = State::Stopped;
    std::shared_ptr<server::ApiServer> server_;
    QThread* helper_ = nullptr;  // the thread that loads or stops, while one does
    QString address_, model_name_, error_, notice_;
};

}  // namespace lc::ui
