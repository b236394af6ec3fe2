#pragma once
// LatentChat's window: the conversation, the message input with Send and Stop, the cache panel,
// the history sidebar, and menus with shortcuts. What happens behind them (the worker, the
// history, the conversation) is the ChatController's.
#include <QMainWindow>
#include <QTimer>

#include "cache_panel.h"
#include "chat_controller.h"
#include "chat_model.h"
#include "chat_view.h"
#include "conversation_settings.h"
#include "history/history_store.h"
#include "history_sidebar.h"
#include "inference_worker.h"
#include "local_server.h"

class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSettings;

namespace lc::ui {

class ModelsPage;

class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    // `store` keeps window geometry and default settings; it must outlive the window.
    // `history_file`: the conversation database (empty: history.db in the user's data folder).
    explicit MainWindow(QSettings& store, const QString& history_file = QString(),
                        QWidget* parent = nullptr);
    ~MainWindow() override;

    // Loads the conversation's model (empty: the bundled model) on the worker thread.
    void load_model(const QString& dir);
    void send(const QString& text);
    void stop() { controller_->stop(); }
    void new_chat();
    // Shows a saved conversation (its current branch); the next message continues it.
    void open_conversation(qint64 conversation_id, qint64 focus_message_id = 0) {
        controller_->open_conversation(conversation_id, focus_message_id);
    }

    ChatController* controller() const { return controller_; }
    qint64 conversation_id() const { return controller_->conversation_id(); }
    HistoryStore* history() const { return controller_->history(); }
    HistorySidebar* sidebar() const { return sidebar_; }
    bool generating() const { return controller_->generating(); }
    bool model_ready() const { return controller_->model_ready(); }
    InferenceWorker* worker() const { return controller_->worker(); }
    ChatModel* chat_model() const { return controller_->chat_model(); }
    ChatView* chat_view() const { return view_; }
    ChatInput* input() const { return input_; }
    CachePanel* cache_panel() const { return cache_; }
    const ConversationSettings& settings() const { return controller_->settings(); }
    // Opens the Models page (made on first use, then kept so downloads go on while hidden).
    void open_models();
    ModelsPage* models_page() const { return models_; }
    // Makes `path` the current model (empty: the bundled one), as the Settings dialog does.
    void use_model(const QString& path);

signals:
    // For tests and the startup benchmark.
    void model_ready_changed(bool ready);
    void reply_finished(const lc::MessageMeta& stats);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void build_widgets();
    QWidget* build_chat_column();
    void build_status_bar();
    void build_menus();
    void connect_sidebar();
    void connect_controller();
    void connect_widgets();
    void open_settings();
    void show_about();
    void show_find();
    void edit(int row);
    void update_controls();
    void show_error(const QString& title, const QString& message);
    void export_conversation(qint64 id, const QString& format);
    void conversation_deleted(qint64 id);
    void show_conversation(qint64 id, int focus_row);
    void show_model(const ModelSummary& s);
    void reset_cache_panel();
    void flush_samples();

    QSettings& store_;
    ChatController* controller_ = nullptr;
    ChatView* view_ = nullptr;
    ChatInput* input_ = nullptr;
    QPushButton* send_ = nullptr;
    QPushButton* stop_ = nullptr;
    CachePanel* cache_ = nullptr;
    HistorySidebar* sidebar_ = nullptr;
    QLineEdit* find_ = nullptr;
    QLabel* model_label_ = nullptr;
    QLabel* cache_note_ = nullptr;  // the saved latent cache's size, next to the chat
    QProgressBar* progress_ = nullptr;
    // Cache samples wait here and reach the chart at most 10 times a second: the chart's
    // repaint is the costliest thing on the UI thread while tokens stream.
    QList<CacheStats> pending_samples_;
    QTimer* chart_timer_ = nullptr;
    ModelsPage* models_ = nullptr;
    // The OpenAI-compatible server Settings can start; it runs until stopped or the window goes.
    LocalServer* server_ = nullptr;
};

}  // namespace lc::ui
