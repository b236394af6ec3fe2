#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QCloseEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRandomGenerator>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QVBoxLayout>

#include "settings_dialog.h"

namespace lc::ui {

MainWindow::MainWindow(QSettings& store, QWidget* parent) : QMainWindow(parent), store_(store) {
    setWindowTitle("LatentChat");
    setObjectName("mainWindow");
    // PNGs at several sizes: crisp at any scale without depending on the SVG image plugin.
    QIcon icon;
    for (int size : {32, 64, 128, 256})
        icon.addFile(QString(":/icons/latentchat-%1.png").arg(size));
    setWindowIcon(icon);
    settings_ = ConversationSettings::load_defaults(store_);

    chat_ = new ChatModel(this);
    view_ = new ChatView(chat_, this);
    input_ = new ChatInput(this);
    input_->setMaximumHeight(120);
    send_ = new QPushButton(tr("&Send"), this);
    send_->setObjectName("sendButton");
    send_->setAccessibleName(tr("Send message"));
    stop_ = new QPushButton(tr("S&top"), this);
    stop_->setObjectName("stopButton");
    stop_->setAccessibleName(tr("Stop generating"));
    stop_->setVisible(false);

    find_ = new QLineEdit(this);
    find_->setObjectName("findField");
    find_->setAccessibleName(tr("Find in conversation"));
    find_->setPlaceholderText(tr("Find in conversation (Enter for next, Esc to close)"));
    find_->setVisible(false);

    auto* input_row = new QHBoxLayout;
    input_row->addWidget(input_, 1);
    auto* buttons = new QVBoxLayout;
    buttons->addWidget(send_);
    buttons->addWidget(stop_);
    buttons->addStretch();
    input_row->addLayout(buttons);

    auto* left = new QWidget(this);
    auto* column = new QVBoxLayout(left);
    column->addWidget(find_);
    column->addWidget(view_, 1);
    column->addLayout(input_row);

    cache_ = new CachePanel(this);
    auto* splitter = new QSplitter(this);
    splitter->addWidget(left);
    splitter->addWidget(cache_);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    setCentralWidget(splitter);

    model_label_ = new QLabel(tr("No model"), this);
    model_label_->setAccessibleName(tr("Model"));
    progress_ = new QProgressBar(this);
    progress_->setAccessibleName(tr("Model loading progress"));
    progress_->setMaximumWidth(200);
    progress_->setVisible(false);
    statusBar()->addWidget(model_label_, 1);
    statusBar()->addPermanentWidget(progress_);

    build_menus();

    // The worker lives on its own thread; everything crosses by queued connection.
    worker_ = new InferenceWorker;
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
    connect(this, &MainWindow::request_load, worker_, &InferenceWorker::load_model);
    connect(this, &MainWindow::request_generate, worker_, &InferenceWorker::generate);
    connect(this, &MainWindow::request_reset, worker_, &InferenceWorker::reset_context);
    connect(worker_, &InferenceWorker::load_progress, this,
            [this](int percent, const QString& what) {
                progress_->setVisible(percent < 100);
                progress_->setValue(percent);
                model_label_->setText(what);
            });
    connect(worker_, &InferenceWorker::model_loaded, this, [this](const ModelSummary& s) {
        summary_ = s;
        model_ready_ = true;
        progress_->setVisible(false);
        model_label_->setText(tr("%1 · %2 · %3 M parameters · context %4 tokens")
                                  .arg(s.name, s.model_type)
                                  .arg(s.parameters / 1e6, 0, 'f', 1)
                                  .arg(s.context));
        cache_->reset(s.empty_cache);
        set_generating(false);
        emit model_ready_changed(true);
    });
    connect(worker_, &InferenceWorker::load_failed, this, [this](const QString& message) {
        progress_->setVisible(false);
        model_label_->setText(model_ready_
                                  ? tr("%1 (the new model failed to load)").arg(summary_.name)
                                  : tr("No model"));
        set_generating(false);
        show_error(tr("The model could not be loaded"), message);
    });
    connect(worker_, &InferenceWorker::generation_started, this, [](int, int) {});
    connect(worker_, &InferenceWorker::tokens_arrived, this,
            [this](const QString& text, const CacheStats& cache, int, double) {
                if (reply_row_ >= 0) chat_->append_text(reply_row_, text);
                pending_samples_.append(cache);
                if (!chart_timer_->isActive()) chart_timer_->start();
            });
    connect(worker_, &InferenceWorker::generation_finished, this,
            [this](const QString& reply, const ReplyStats& stats, const CacheStats& cache) {
                if (reply_row_ >= 0) {
                    chat_->set_text(reply_row_, reply);
                    chat_->finish(reply_row_, stats);
                }
                pending_samples_.append(cache);
                flush_samples();
                reply_row_ = -1;
                set_generating(false);
                emit reply_finished(stats);
            });
    connect(worker_, &InferenceWorker::generation_failed, this, [this](const QString& message) {
        if (reply_row_ >= 0) chat_->truncate(reply_row_);
        reply_row_ = -1;
        set_generating(false);
        show_error(tr("The reply failed"), message);
    });
    thread_.start();

    chart_timer_ = new QTimer(this);
    chart_timer_->setInterval(100);
    chart_timer_->setSingleShot(true);
    connect(chart_timer_, &QTimer::timeout, this, &MainWindow::flush_samples);

    connect(send_, &QPushButton::clicked, this, [this] { send(input_->toPlainText()); });
    connect(input_, &ChatInput::send_requested, this, [this] { send(input_->toPlainText()); });
    connect(stop_, &QPushButton::clicked, this, &MainWindow::stop);
    connect(view_, &ChatView::copy_requested, this,
            [](const QString& text) { QApplication::clipboard()->setText(text); });
    connect(view_, &ChatView::regenerate_requested, this, &MainWindow::regenerate);
    connect(view_, &ChatView::edit_requested, this, &MainWindow::edit);
    connect(find_, &QLineEdit::returnPressed, this, [this] {
        if (!view_->find_next(find_->text())) statusBar()->showMessage(tr("Not found"), 2000);
    });

    restoreGeometry(store_.value("window/geometry").toByteArray());
    if (!store_.contains("window/geometry")) resize(1100, 720);
    set_generating(false);
    input_->setFocus();
    load_model(settings_.model_dir);
}

MainWindow::~MainWindow() {
    worker_->request_stop();
    thread_.quit();
    thread_.wait();
}

void MainWindow::build_menus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* new_chat_action = file->addAction(tr("&New chat"), this, &MainWindow::new_chat);
    new_chat_action->setShortcut(QKeySequence::New);
    QAction* settings = file->addAction(tr("&Settings…"), this, &MainWindow::open_settings);
    settings->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Comma));
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    QAction* find = edit->addAction(tr("&Find…"), this, &MainWindow::show_find);
    find->setShortcut(QKeySequence::Find);

    QMenu* chat = menuBar()->addMenu(tr("&Chat"));
    QAction* send_action =
        chat->addAction(tr("&Send"), this, [this] { send(input_->toPlainText()); });
    send_action->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
    QAction* stop_action = chat->addAction(tr("S&top"), this, &MainWindow::stop);
    stop_action->setShortcut(QKeySequence(Qt::Key_Escape));

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About LatentChat"), this, &MainWindow::show_about);
}

void MainWindow::load_model(const QString& dir) {
    model_ready_ = false;
    set_generating(false);
    progress_->setVisible(true);
    progress_->setValue(0);
    model_label_->setText(tr("Loading model…"));
    emit request_load(dir, settings_.device);
}

void MainWindow::send(const QString& text) {
    const QString trimmed = text.trimmed();
    if (trimmed.isEmpty() || generating_ || !model_ready_) return;
    input_->clear();
    chat_->add_message("user", trimmed);
    start_reply();
}

void MainWindow::start_reply() {
    reply_row_ = chat_->add_message("assistant", QString(), true);
    set_generating(true);
    QList<ChatTurn> turns = chat_->turns(settings_.system_prompt);
    turns.removeLast();  // the empty reply being written
    emit request_generate(turns, settings_);
}

void MainWindow::flush_samples() {
    chart_timer_->stop();
    for (const CacheStats& s : pending_samples_)
        cache_->add_sample(s);
    pending_samples_.clear();
}

void MainWindow::stop() {
    if (generating_) worker_->request_stop();  // thread-safe; takes effect within one token
}

void MainWindow::new_chat() {
    if (generating_) return;
    chat_->clear();
    pending_samples_.clear();
    cache_->reset(summary_.empty_cache);
    emit request_reset();
    input_->setFocus();
}

void MainWindow::regenerate(int row) {
    if (generating_ || row < 0) return;
    chat_->truncate(row);
    start_reply();
}

void MainWindow::edit(int row) {
    if (generating_ || row < 0) return;
    input_->setPlainText(chat_->message(row).text);
    chat_->truncate(row);
    input_->setFocus();
}

void MainWindow::set_generating(bool on) {
    generating_ = on;
    send_->setVisible(!on);
    stop_->setVisible(on);
    send_->setEnabled(model_ready_);
    input_->setReadOnly(on);
}

void MainWindow::open_settings() {
    auto* dialog = new SettingsDialog(settings_, false, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        const ConversationSettings before = settings_;
        settings_ = dialog->settings();
        settings_.save_defaults(store_);
        if (settings_.model_dir != before.model_dir || settings_.device != before.device) {
            new_chat();
            load_model(settings_.model_dir);
        }
    });
    dialog->open();
}

void MainWindow::show_find() {
    find_->setVisible(true);
    find_->setFocus();
    find_->selectAll();
}

void MainWindow::show_about() {
    QMessageBox::about(
        this, tr("About LatentChat"),
        tr("<h3>LatentChat %1</h3><p>A local chat app for models with multi-head latent attention "
           "(DeepSeek-V2/V3).</p><p>Model: <b>%2</b> (%3, %4 M parameters)%5</p>")
            .arg(LATENTCHAT_VERSION, summary_.name.isEmpty() ? tr("none") : summary_.name,
                 summary_.model_type)
            .arg(summary_.parameters / 1e6, 0, 'f', 1)
            .arg(summary_.licence.isEmpty() ? QString()
                                            : tr("<br>Licence: %1").arg(summary_.licence)));
}

// Not modal-blocking: the window stays usable, and tests can find and close the box.
void MainWindow::show_error(const QString& title, const QString& message) {
    auto* box = new QMessageBox(QMessageBox::Warning, title, message, QMessageBox::Ok, this);
    box->setObjectName("errorDialog");
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    store_.setValue("window/geometry", saveGeometry());
    worker_->request_stop();
    QMainWindow::closeEvent(event);
}

}  // namespace lc::ui
