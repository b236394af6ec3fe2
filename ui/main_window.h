#pragma once
// LatentChat's window: the conversation, the message input with Send and Stop, the cache panel,
// menus with shortcuts, and the inference worker on its own thread.
#include <QMainWindow>
#include <QThread>
#include <QTimer>
#include <memory>
#include <optional>

#include "cache_panel.h"
#include "chat_model.h"
#include "chat_view.h"
#include "conversation_settings.h"
#include "history/history_store.h"
#include "history_sidebar.h"
#include "inference_worker.h"

class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSettings;

namespace lc::ui {

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
    void stop();
    void new_chat();
    // Shows a saved conversation (its current branch); the next message continues it.
    void open_conversation(qint64 conversation_id, qint64 focus_message_id = 0);
    qint64 conversation_id() const { return conversation_id_; }
    HistoryStore* history() const { return history_.get(); }
    HistorySidebar* sidebar() const { return sidebar_; }

    bool generating() const { return generating_; }
    bool model_ready() const { return model_ready_; }
    InferenceWorker* worker() const { return worker_; }
    ChatModel* chat_model() const { return chat_; }
    ChatView* chat_view() const { return view_; }
    ChatInput* input() const { return input_; }
    CachePanel* cache_panel() const { return cache_; }
    const ConversationSettings& settings() const { return settings_; }

signals:
    // Queued to the worker.
    void request_load(const QString& dir, const QString& device);
    void request_generate(const QList<lc::ui::ChatTurn>& conversation,
                          const lc::ui::ConversationSettings& settings);
    void request_reset();
    void request_save_cache(const QString& file);
    void request_resume(const QString& file, const QList<lc::ui::ChatTurn>& conversation);
    // For tests and the startup benchmark.
    void model_ready_changed(bool ready);
    void reply_finished(const lc::ui::ReplyStats& stats);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void build_menus();
    void open_settings();
    void show_about();
    void show_find();
    void regenerate(int row);
    void edit(int row);
    void branch(int row);
    void start_reply();
    void set_generating(bool on);
    void show_error(const QString& title, const QString& message);
    void truncate_chat(int row);
    void export_conversation(qint64 id, const QString& format);
    std::optional<int64_t> last_message_id() const;
    QString cache_file(qint64 conversation_id) const;
    void leave_conversation();

    QSettings& store_;
    ConversationSettings settings_;
    QThread thread_;
    InferenceWorker* worker_ = nullptr;
    ChatModel* chat_ = nullptr;
    ChatView* view_ = nullptr;
    ChatInput* input_ = nullptr;
    QPushButton* send_ = nullptr;
    QPushButton* stop_ = nullptr;
    CachePanel* cache_ = nullptr;
    QLineEdit* find_ = nullptr;
    QLabel* model_label_ = nullptr;
    QLabel* cache_note_ = nullptr;  // the saved latent cache's size, next to the chat
    QProgressBar* progress_ = nullptr;
    // Cache samples wait here and reach the chart at most 10 times a second: the chart's
    // repaint is the costliest thing on the UI thread while tokens stream.
    QList<CacheStats> pending_samples_;
    QTimer* chart_timer_ = nullptr;
    void flush_samples();
    ModelSummary summary_;
    bool generating_ = false;
    bool model_ready_ = false;
    int reply_row_ = -1;
    // History: the open conversation (0: not saved yet), the database id of each row of chat_,
    // and the reply being saved while it streams.
    std::unique_ptr<HistoryStore> history_;
    HistorySidebar* sidebar_ = nullptr;
    qint64 conversation_id_ = 0;
    QList<qint64> message_ids_;
    std::unique_ptr<ReplyRecorder> recorder_;
};

}  // namespace lc::ui
