#pragma once
// tests/ref/fake_openai.py on a free port for the remote-engine tests: its URL, and the requests
// it logged (one JSON object per request, written before its reply).
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QList>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>
#include <string>

namespace lc_test {

class FakeOpenAi {
public:
    // `api_key`: when set, requests without "Authorization: Bearer KEY" get 401.
    bool start(const QString& api_key = QString()) {
        log_ = dir_.filePath("requests.log");
        QStringList args{QStringLiteral(LC_SOURCE_DIR "/tests/ref/fake_openai.py"), log_};
        if (!api_key.isEmpty()) args << "--api-key" << api_key;
        proc_.setProgram("python3");
        proc_.setArguments(args);
        proc_.start();
        if (!proc_.waitForStarted(10000)) return false;
        while (!proc_.canReadLine())
            if (!proc_.waitForReadyRead(10000)) return false;
        port_ = proc_.readLine().trimmed().toInt();
        return port_ > 0;
    }
    ~FakeOpenAi() { stop(); }
    // Ends the server: its port no longer answers.
    void stop() {
        if (proc_.state() == QProcess::NotRunning) return;
        proc_.kill();
        proc_.waitForFinished(5000);
    }
    QString root() const { return QStringLiteral("http://127.0.0.1:%1").arg(port_); }
    std::string url() const { return root().toStdString(); }  // without /v1, as users write it
    int port() const { return port_; }
    QList<QJsonObject> requests() const {
        QList<QJsonObject> out;
        QFile f(log_);
        if (!f.open(QIODevice::ReadOnly)) return out;
        for (const QByteArray& line : f.readAll().split('\n'))
            if (!line.isEmpty()) out.push_back(QJsonDocument::fromJson(line).object());
        return out;
    }
    // The body of the last POST.
    QJsonObject last_body() const {
        const QList<QJsonObject> all = requests();
        for (auto it = all.rbegin(); it != all.rend(); ++it)
            if ((*it)["method"].toString() == "POST") return (*it)["body"].toObject();
        return {};
    }
    void clear_log() { QFile::remove(log_); }

private:
    QTemporaryDir dir_;
    QString log_;
    QProcess proc_;
    int port_ = 0;
};

// What the fake server answers to `message`.
inline QString fake_reply(const QString& message) {
    return "Hello from the fake server. You said: " + message;
}

}  // namespace lc_test
