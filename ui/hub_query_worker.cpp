#include "hub_query_worker.h"

#include <exception>

namespace lc::ui {

void HubQueryWorker::search(const QString& text, int limit) {
    try {
        const std::vector<lc::hub::SearchResult> found =
            lc::hub::search(options_, text.trimmed().toStdString(), limit);
        emit search_done(text, QList<lc::hub::SearchResult>(found.begin(), found.end()));
    } catch (const std::exception& e) {
        emit search_failed(text, QString::fromUtf8(e.what()));
    }
}

void HubQueryWorker::probe_memory() {
    emit memory_probed(lc::MachineMemory::probe());
}

}  // namespace lc::ui
