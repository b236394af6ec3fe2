#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QCloseEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QVBoxLayout>

#include "engine/backend_factory.h"
#include "models_page.h"
#include "server_panel.h"
#include "settings_dialog.h"

namespace lc::ui {

MainWindow::MainWindow(QSettings& store, const QString& history_file, QWidget* parent)
    : QMainWindow(parent), store_(store) {
    setWindowTitle("LatentChat");
    setObjectName("mainWindow");
    // PNGs at several sizes: crisp at any scale without depending on the SVG image plugin.
    QIcon icon;
    for (int size : {32, 64, 128, 256})
        icon.addFile(QString(":/icons/latentchat-%1.png").arg(size));
    setWindowIcon(icon);

    controller_ =
        new ChatController(ConversationSettings::load_defaults(store_), history_file, this);
    server_ = new LocalServer(this);
    build_widgets();
    build_status_bar();
    build_menus();
    connect_sidebar();
    connect_controller();
    connect_widgets();

    restoreGeometry(store_.value("window/geometry").toByteArray());
    if (!store_.contains("window/geometry")) resize(1240, 760);
    update_controls();
    input_->setFocus();
    load_model(settings().model_dir);
}

// The controller, a child, stops the worker's thread as it goes.
MainWindow::~MainWindow() = default;

void MainWindow::build_widgets() {
    view_ = new ChatView(controller_->chat_model(), this);
    QWidget* left = build_chat_column();
    cache_ = new CachePanel(this);
    sidebar_ = new HistorySidebar(this);
    sidebar_->set_store(controller_->history());
    auto* splitter = new QSplitter(this);
    splitter->addWidget(sidebar_);
    splitter->addWidget(left);
    splitter->addWidget(cache_);
    splitter->setStretchFactor(0, 1);
    splitter->setStretchFactor(1, 3);
    splitter->setStretchFactor(2, 2);
    splitter->setSizes({230, 560, 450});
    setCentralWidget(splitter);
}

// Find, the conversation, the cache note, and the input with Send and Stop.
QWidget* MainWindow::build_chat_column() {
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

    cache_note_ = new QLabel(this);
    cache_note_->setObjectName("cacheNote");
    cache_note_->setAccessibleName(tr("Saved latent cache"));
    cache_note_->setForegroundRole(QPalette::PlaceholderText);
    cache_note_->setWordWrap(true);

    auto* left = new QWidget(this);
    auto* column = new QVBoxLayout(left);
    column->addWidget(find_);
    column->addWidget(view_, 1);
    column->addWidget(cache_note_);
    column->addLayout(input_row);
    return left;
}

void MainWindow::build_status_bar() {
    model_label_ = new QLabel(tr("No model"), this);
    model_label_->setAccessibleName(tr("Model"));
    progress_ = new QProgressBar(this);
    progress_->setAccessibleName(tr("Model loading progress"));
    progress_->setMaximumWidth(200);
    progress_->setVisible(false);
    statusBar()->addWidget(model_label_, 1);
    statusBar()->addPermanentWidget(progress_);
}

void MainWindow::build_menus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* new_chat_action = file->addAction(tr("&New chat"), this, &MainWindow::new_chat);
    new_chat_action->setShortcut(QKeySequence::New);
    QAction* settings = file->addAction(tr("&Settings…"), this, &MainWindow::open_settings);
    settings->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Comma));
    QAction* models = file->addAction(tr("&Models…"), this, &MainWindow::open_models);
    models->setObjectName(QStringLiteral("modelsAction"));
    models->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_M));
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

void MainWindow::connect_sidebar() {
    connect(sidebar_, &HistorySidebar::new_chat_requested, this, &MainWindow::new_chat);
    connect(sidebar_, &HistorySidebar::conversation_selected, this,
            [this](qint64 id) { open_conversation(id); });
    connect(sidebar_, &HistorySidebar::search_result_selected, this,
            [this](qint64 id, qint64 message) { open_conversation(id, message); });
    connect(sidebar_, &HistorySidebar::export_requested, this, &MainWindow::export_conversation);
    connect(sidebar_, &HistorySidebar::status_message, this,
            [this](const QString& text) { statusBar()->showMessage(text, 4000); });
    connect(sidebar_, &HistorySidebar::conversation_deleted, this,
            &MainWindow::conversation_deleted);
}

void MainWindow::connect_controller() {
    ChatController* c = controller_;
    connect(c, &ChatController::load_progress, this, [this](int percent, const QString& what) {
        progress_->setVisible(percent < 100);
        progress_->setValue(percent);
        model_label_->setText(what);
    });
    connect(c, &ChatController::model_loaded, this, [this](const ModelSummary& s) {
        show_model(s);
        emit model_ready_changed(true);
    });
    connect(c, &ChatController::load_failed, this, [this](const QString& message) {
        progress_->setVisible(false);
        model_label_->setText(
            model_ready() ? tr("%1 (the new model failed to load)").arg(controller_->summary().name)
                          : tr("No model"));
        show_error(tr("The model could not be loaded"), message);
    });
    connect(c, &ChatController::state_changed, this, &MainWindow::update_controls);
    connect(c, &ChatController::cache_sample, this, [this](const CacheStats& cache) {
        pending_samples_.append(cache);
        if (!chart_timer_->isActive()) chart_timer_->start();
    });
    // The chart ends on the reply's last sample before anyone hears of the reply.
    connect(c, &ChatController::reply_finished, this, [this](const MessageMeta& meta) {
        flush_samples();
        emit reply_finished(meta);
    });
    connect(c, &ChatController::reply_saved, this, [this](qint64 id) {
        sidebar_->refresh();
        sidebar_->select(id);
    });
    connect(c, &ChatController::history_changed, sidebar_, &HistorySidebar::refresh);
    connect(c, &ChatController::conversation_shown, this, &MainWindow::show_conversation);
    connect(c, &ChatController::cache_saved, this,
            [this](const QString&, qint64 bytes, qint64 mha_bytes, int tokens) {
                cache_note_->setText(tr("Latent cache saved with the chat: %1 for %2 tokens (an "
                                        "MHA cache would take %3)")
                                         .arg(format_bytes(double(bytes)))
                                         .arg(tokens)
                                         .arg(format_bytes(double(mha_bytes))));
            });
    connect(c, &ChatController::cache_resumed, this,
            [this](const QString& file, int tokens, const QString& reason) {
                if (tokens > 0)
                    cache_note_->setText(tr("Reopened from its saved latent cache (%1, %2 tokens): "
                                            "no re-prefill")
                                             .arg(format_bytes(double(QFileInfo(file).size())))
                                             .arg(tokens));
                else
                    cache_note_->setText(QFileInfo::exists(file)
                                             ? tr("Saved latent cache not used: %1").arg(reason)
                                             : QString());
            });
    connect(c, &ChatController::error, this, &MainWindow::show_error);
    connect(c, &ChatController::status_message, this,
            [this](const QString& text, int ms) { statusBar()->showMessage(text, ms); });
}

void MainWindow::connect_widgets() {
    chart_timer_ = new QTimer(this);
    chart_timer_->setInterval(100);
    chart_timer_->setSingleShot(true);
    connect(chart_timer_, &QTimer::timeout, this, &MainWindow::flush_samples);

    connect(send_, &QPushButton::clicked, this, [this] { send(input_->toPlainText()); });
    connect(input_, &ChatInput::send_requested, this, [this] { send(input_->toPlainText()); });
    connect(stop_, &QPushButton::clicked, this, &MainWindow::stop);
    connect(view_, &ChatView::copy_requested, this,
            [](const QString& text) { QApplication::clipboard()->setText(text); });
    connect(view_, &ChatView::regenerate_requested, controller_, &ChatController::regenerate);
    connect(view_, &ChatView::edit_requested, this, &MainWindow::edit);
    connect(view_, &ChatView::branch_requested, controller_, &ChatController::branch);
    connect(find_, &QLineEdit::returnPressed, this, [this] {
        if (!view_->find_next(find_->text())) statusBar()->showMessage(tr("Not found"), 2000);
    });
}

void MainWindow::load_model(const QString& dir) {
    progress_->setVisible(true);
    progress_->setValue(0);
    model_label_->setText(tr("Loading model…"));
    controller_->load_model(dir);
}

void MainWindow::send(const QString& text) {
    if (controller_->send(text)) input_->clear();
}

void MainWindow::new_chat() {
    controller_->new_chat();
}

void MainWindow::edit(int row) {
    if (const std::optional<QString> text = controller_->edit(row)) {
        input_->setPlainText(*text);
        input_->setFocus();
    }
}

void MainWindow::show_model(const ModelSummary& s) {
    progress_->setVisible(false);
    if (s.remote)
        model_label_->setText(tr("%1 · remote engine at %2").arg(s.name, s.dir));
    else
        model_label_->setText(tr("%1 · %2 · %3 M parameters · context %4 tokens")
                                  .arg(s.name, s.model_type)
                                  .arg(s.parameters / 1e6, 0, 'f', 1)
                                  .arg(s.context));
    reset_cache_panel();
    update_controls();
}

void MainWindow::show_conversation(qint64 id, int focus_row) {
    pending_samples_.clear();
    reset_cache_panel();
    cache_note_->clear();
    if (id == 0)
        sidebar_->list()->clearSelection();
    else
        sidebar_->select(id);
    if (focus_row >= 0) view_->scroll_to(focus_row);
    input_->setFocus();
}

void MainWindow::reset_cache_panel() {
    const ModelSummary& s = controller_->summary();
    cache_->reset(s.empty_cache, static_cast<double>(s.device_free_bytes),
                  s.remote ? s.cache_note : QString());
}

void MainWindow::flush_samples() {
    chart_timer_->stop();
    for (const CacheStats& s : pending_samples_)
        cache_->add_sample(s);
    pending_samples_.clear();
}

void MainWindow::update_controls() {
    const bool on = generating();
    send_->setVisible(!on);
    stop_->setVisible(on);
    send_->setEnabled(model_ready());
    input_->setReadOnly(on);
}

void MainWindow::conversation_deleted(qint64 id) {
    if (id == conversation_id()) new_chat();
    auto* undo = new QPushButton(tr("Undo delete"), this);
    undo->setAccessibleName(tr("Undo delete"));
    statusBar()->addWidget(undo);
    connect(undo, &QPushButton::clicked, this, [this, id, undo] {
        controller_->undelete(id);
        undo->deleteLater();
    });
    QTimer::singleShot(10000, undo, &QObject::deleteLater);
}

void MainWindow::export_conversation(qint64 id, const QString& format) {
    if (!history()) return;
    const QString filter = format == "md" ? tr("Markdown (*.md)") : tr("JSON (*.json)");
    const QString file = QFileDialog::getSaveFileName(
        this, tr("Export conversation"), QString("conversation-%1.%2").arg(id).arg(format), filter);
    if (!file.isEmpty()) controller_->export_conversation(id, format, file);
}

void MainWindow::open_settings() {
    // Asked once per run: the first CUDA call takes a moment without a driver.
    static const bool cuda = gpu_available(nullptr);
    auto* dialog = new SettingsDialog(settings(), cuda, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    ServerPanel::add_to(dialog, server_, settings().model_dir, settings().device);
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        const ConversationSettings before = settings();
        const ConversationSettings after = dialog->settings();
        after.save_defaults(store_);
        controller_->set_settings(after);
        if (after.model_dir != before.model_dir || after.device != before.device ||
            after.remote != before.remote) {
            new_chat();
            load_model(after.model_dir);
        }
    });
    dialog->open();
}

void MainWindow::open_models() {
    if (!models_) {
        models_ = new ModelsPage(ModelsPage::Options(), this);
        connect(models_, &ModelsPage::model_chosen, this, &MainWindow::use_model);
    }
    models_->show();
    models_->raise();
    models_->activateWindow();
}

void MainWindow::use_model(const QString& path) {
    ConversationSettings after = settings();
    if (after.model_dir == path && model_ready() && !after.remote.enabled) return;
    after.model_dir = path;
    after.remote.enabled = false;  // a model chosen here runs here
    after.save_defaults(store_);
    controller_->set_settings(after);
    new_chat();
    load_model(path);
}

void MainWindow::show_find() {
    find_->setVisible(true);
    find_->setFocus();
    find_->selectAll();
}

void MainWindow::show_about() {
    const ModelSummary& s = controller_->summary();
    QMessageBox::about(
        this, tr("About LatentChat"),
        tr("<h3>LatentChat %1</h3><p>A local chat app for models with multi-head latent attention "
           "(DeepSeek-V2/V3).</p><p>Model: <b>%2</b> (%3, %4 M parameters)%5</p>")
            .arg(LATENTCHAT_VERSION, s.name.isEmpty() ? tr("none") : s.name, s.model_type)
            .arg(s.parameters / 1e6, 0, 'f', 1)
            .arg(s.licence.isEmpty() ? QString() : tr("<br>Licence: %1").arg(s.licence)));
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
    // The open conversation's cache is saved before the worker's thread ends.
    controller_->save_before_quit();
    QMainWindow::closeEvent(event);
}

}  // namespace lc::ui
