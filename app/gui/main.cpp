// latentchat: the desktop app. Without a display it says so in one line and points to the
// terminal chat. `--startup-benchmark` prints how long the window and the model took, then quits.
#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QSettings>
#include <QTimer>
#include <cstdio>
#include <cstdlib>

#include "main_window.h"

namespace {

bool display_available() {
    const char* platform = std::getenv("QT_QPA_PLATFORM");
    if (platform && *platform) return true;  // the user chose a platform (offscreen, vnc, ...)
    const char* x11 = std::getenv("DISPLAY");
    const char* wayland = std::getenv("WAYLAND_DISPLAY");
    return (x11 && *x11) || (wayland && *wayland);
}

}  // namespace

int main(int argc, char** argv) {
    QElapsedTimer since_start;
    since_start.start();
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) == "--version") {
            std::printf("latentchat %s\n", LATENTCHAT_VERSION);
            return 0;
        }
    }
    if (!display_available()) {
        std::fprintf(stderr,
                     "latentchat: no display found (DISPLAY and WAYLAND_DISPLAY are unset); for a "
                     "chat in this terminal run: latentchat-cli chat\n");
        return 1;
    }

    QApplication app(argc, argv);
    QApplication::setApplicationName("LatentChat");
    QApplication::setOrganizationName("LatentChat");
    QApplication::setApplicationVersion(LATENTCHAT_VERSION);
    QApplication::setDesktopFileName("latentchat");

    QCommandLineParser parser;
    parser.setApplicationDescription("Local chat with multi-head latent attention models");
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption model({"m", "model"}, "Model folder (default: the bundled model).", "dir");
    QCommandLineOption startup(
        "startup-benchmark", "Print the time to a shown window and to a loaded model, then quit.");
    parser.addOption(model);
    parser.addOption(startup);
    parser.process(app);

    QSettings store;
    lc::ui::MainWindow window(store);
    if (parser.isSet(model)) window.load_model(parser.value(model));
    window.show();
    const qint64 shown_ms = since_start.elapsed();
    if (parser.isSet(startup)) {
        QObject::connect(&window, &lc::ui::MainWindow::model_ready_changed, &app, [&](bool ready) {
            if (!ready) return;
            // Let the window paint once with the model in place, then report.
            QTimer::singleShot(0, &app, [&] {
                std::printf("window shown after %lld ms; model ready after %lld ms\n",
                            static_cast<long long>(shown_ms),
                            static_cast<long long>(since_start.elapsed()));
                app.quit();
            });
        });
        // A model that does not load ends the benchmark with its reason, not a wait for ever.
        QObject::connect(window.worker(), &lc::ui::InferenceWorker::load_failed, &app,
                         [&](const QString& message) {
                             std::fprintf(stderr, "latentchat: %s\n", qPrintable(message));
                             app.exit(1);
                         });
    }
    return app.exec();
}
