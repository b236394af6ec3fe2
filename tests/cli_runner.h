#pragma once
// Runs the built latentchat-cli for the CLI tests: a timeout instead of a hang, a crash told
// apart from an exit status, and everything it printed kept for the failure report.
#include <QProcess>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>

namespace lc_test {

constexpr int kCliTimeoutMs = 300000;

struct CliResult {
    QStringList args;
    bool started = false;
    bool finished = false;  // false: killed after the timeout
    QProcess::ExitStatus status = QProcess::NormalExit;
    int code = -1;
    QByteArray out;
    QByteArray err;

    QString describe() const {
        QString s = "latentchat-cli " + args.join(' ') + "\n  ";
        if (!started)
            s += "did not start";
        else if (!finished)
            s += QString("did not finish within %1 s (killed)").arg(kCliTimeoutMs / 1000);
        else if (status == QProcess::CrashExit)
            s += "CRASHED (signal)";
        else
            s += QString("exit status %1").arg(code);
        s += "\n  stderr: " + QString::fromUtf8(err);
        s += "\n  stdout (first 400 bytes): " + QString::fromUtf8(out.left(400));
        return s;
    }
};

// `input` is written to its standard input (closed after it; empty input reads as end of file).
inline CliResult run_cli(const QStringList& args, const QByteArray& input = {}) {
    CliResult r;
    r.args = args;
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove("LATENTCHAT_MODEL");
    p.setProcessEnvironment(env);
    p.setProgram(QStringLiteral(LC_CLI_PATH));
    p.setArguments(args);
    if (input.isEmpty()) p.setStandardInputFile(QProcess::nullDevice());
    p.start();
    r.started = p.waitForStarted(30000);
    if (!r.started) return r;
    if (!input.isEmpty()) {
        p.write(input);
        p.closeWriteChannel();
    }
    r.finished = p.waitForFinished(kCliTimeoutMs);
    if (!r.finished) {
        p.kill();
        p.waitForFinished(5000);
    }
    r.status = p.exitStatus();
    r.code = p.exitCode();
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

}  // namespace lc_test
