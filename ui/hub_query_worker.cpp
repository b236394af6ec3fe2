#include "hub_query_worker.h"

#include <QRegularExpression>
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

void HubQueryWorker::list_gguf_files(const QString& repo) {
    // Later parts of a split set ("-00002-of-00003.gguf") are pulled with the first.
    static const QRegularExpression later_part(
        QStringLiteral("-0*([2-9]|[1-9][0-9]+)-of-[0-9]+\\.gguf$"),
        QRegularExpression::CaseInsensitiveOption);
    try {
        QStringList files;
        QList<qint64> bytes;
        bool folder_model = false;
        for (const lc::hub::RepoFile& f : lc::hub::list_files(options_, repo.toStdString())) {
            const QString path = QString::fromStdString(f.path);
            if (path.endsWith(QStringLiteral(".safetensors"))) folder_model = true;
            if (!path.endsWith(QStringLiteral(".gguf"), Qt::CaseInsensitive)) continue;
            if (later_part.match(path).hasMatch()) {
                // Its bytes count with the set's first part, listed before it by name.
                const QString first =
                    QString(path).replace(later_part, QStringLiteral("-00001-of-"));
                for (int i = 0; i < files.size(); ++i)
                    if (files[i].startsWith(first)) bytes[i] += f.size;
                continue;
            }
            files << path;
            bytes << f.size;
        }
        emit files_listed(repo, files, bytes, folder_model);
    } catch (const std::exception& e) {
        emit listing_failed(repo, QString::fromUtf8(e.what()));
    }
}

void HubQueryWorker::probe_memory() {
    emit memory_probed(lc::MachineMemory::probe());
}

}  // namespace lc::ui
