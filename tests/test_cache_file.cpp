// Latent cache files: a conversation resumed from its saved cache gives the same next-token
// logits as prefilling it again, and a file from another model, for another conversation, or
// damaged is ignored (not used, a reason given, the cache left empty, no crash).
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "engine/cache_file.h"
#include "engine/generator.h"
#include "engine/model.h"
#include "session/open_model.h"

namespace fs = std::filesystem;

namespace {

fs::path bundled_dir() {
    return fs::path(LC_SOURCE_DIR) / "resources/models/latentchat-stories-13m";
}

std::vector<int> conversation(int n, int vocab, uint64_t seed) {
    std::vector<int> ids(n);
    uint64_t x = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (int& id : ids) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        id = static_cast<int>((x >> 33) % static_cast<uint64_t>(vocab));
    }
    return ids;
}

double relative_l2(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        diff += double(a[i] - b[i]) * (a[i] - b[i]);
        norm += double(b[i]) * b[i];
    }
    return std::sqrt(diff / norm);
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_all(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

class TestCacheFile : public QObject {
    Q_OBJECT

    std::unique_ptr<lc::Model> model_;
    std::string fp_;
    std::vector<int> tokens_;         // the saved conversation
    std::vector<float> full_logits_;  // a full prefill's logits at its last token
    QTemporaryDir tmp_;
    fs::path file_;

    int vocab() const { return model_->config().vocab_size; }

    // A full prefill of `ids` in a fresh cache: the last token's logits.
    std::vector<float> reprefill(const std::vector<int>& ids) {
        auto cache = model_->new_cache();
        std::vector<float> logits(vocab());
        model_->forward(ids, *cache, logits.data());
        return logits;
    }

    // Loads file_ into a fresh cache for the conversation `ids` and prefills what was not
    // restored (at least the last token). Returns the last token's logits.
    std::vector<float> resume(const std::vector<int>& ids, lc::LoadedCache* loaded) {
        auto cache = model_->new_cache();
        std::vector<int> restored;
        *loaded = lc::load_latent_cache(file_, *cache, restored, fp_, ids);
        if (loaded->used) {
            if (restored != std::vector<int>(ids.begin(), ids.begin() + restored.size()))
                qWarning("the restored ids are not a prefix of the conversation");
            if (cache->size() != loaded->tokens_restored) qWarning("cache size differs");
        }
        const int keep = std::min(cache->size(), static_cast<int>(ids.size()) - 1);
        cache->truncate(keep);
        std::vector<float> logits(vocab());
        model_->forward(std::span<const int>(ids).subspan(keep), *cache, logits.data());
        return logits;
    }

    void expect_ignored(const fs::path& file, const char* what) {
        auto cache = model_->new_cache();
        // A previous context must not survive a failed load either.
        model_->forward(std::span<const int>(tokens_).first(5), *cache, nullptr);
        std::vector<int> restored = {1, 2, 3};
        lc::LoadedCache r = lc::load_latent_cache(file, *cache, restored, fp_, tokens_);
        QVERIFY2(!r.used, what);
        QCOMPARE(r.tokens_restored, 0);
        QVERIFY2(!r.reason.empty(), what);
        QCOMPARE(cache->size(), 0);
        QVERIFY(restored.empty());
        qInfo("%s: %s", what, r.reason.c_str());
    }

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        lc::OpenOptions o;
        o.path = bundled_dir();
        o.load_tokenizer = false;
        model_ = lc::open_model(o).model;
        fp_ = lc::model_fingerprint(*model_);
        tokens_ = conversation(300, vocab(), 7);
        full_logits_ = reprefill(tokens_);
        file_ = fs::path(tmp_.path().toStdString()) / "conversation.lckv";
        auto cache = model_->new_cache();
        model_->forward(tokens_, *cache, nullptr);
        lc::save_latent_cache(file_, *cache, tokens_, fp_);
    }

    void file_is_written_atomically_with_the_expected_size() {
        QVERIFY(fs::exists(file_));
        QVERIFY(!fs::exists(fs::path(file_) += ".tmp"));
        const auto& c = model_->config();
        const size_t rows =
            size_t(300) * c.num_hidden_layers * (c.kv_lora_rank + c.qk_rope_head_dim);
        const size_t header = 9 * 4 + fp_.size() + 300 * 4 + 3 * 8;
        QCOMPARE(size_t(fs::file_size(file_)), rows * sizeof(float) + header);
    }

    void fingerprint_is_stable_and_tells_models_apart() {
        QCOMPARE(lc::model_fingerprint(bundled_dir()), fp_);
        QCOMPARE(fp_.size(), size_t(16));
        const std::string other = lc::model_fingerprint(fs::path(LC_FIXTURES_DIR) / "v3_yarn");
        QVERIFY(other != fp_);
        // The same checkpoint with one weight byte changed (in the last tensor's last bytes).
        const fs::path copy = fs::path(tmp_.path().toStdString()) / "changed_model";
        fs::create_directories(copy);
        fs::copy_file(bundled_dir() / "config.json", copy / "config.json");
        std::string weights = read_all(bundled_dir() / "model.safetensors");
        weights[weights.size() - 3] ^= 0x01;
        write_all(copy / "model.safetensors", weights);
        QVERIFY(lc::model_fingerprint(copy) != fp_);
    }

    void rows_are_restored_bit_for_bit() {
        auto a = model_->new_cache();
        model_->forward(tokens_, *a, nullptr);
        auto b = model_->new_cache(512);
        std::vector<int> restored;
        lc::LoadedCache r = lc::load_latent_cache(file_, *b, restored, fp_, tokens_);
        QVERIFY2(r.used, r.reason.c_str());
        QCOMPARE(r.tokens_restored, 300);
        QCOMPARE(restored, tokens_);
        QCOMPARE(b->size(), 300);
        for (int l = 0; l < a->layers(); ++l)
            for (int p = 0; p < 300; ++p)
                QVERIFY(std::memcmp(a->row(l, p), b->row(l, p),
                                    a->row_elements() * sizeof(float)) == 0);
    }

    void resume_gives_the_logits_of_a_full_prefill() {
        lc::LoadedCache r;
        std::vector<float> logits = resume(tokens_, &r);
        QVERIFY2(r.used, r.reason.c_str());
        QCOMPARE(r.tokens_restored, 300);
        const double err = relative_l2(logits, full_logits_);
        qInfo("relative L2 of resumed vs re-prefilled logits: %.3g", err);
        QVERIFY(err < 1e-6);
        // Bit for bit what the cache that was saved gives when it never left memory: the
        // small difference to a full prefill is only the summation order of the last token
        // in a 44-token chunk against a chunk of one.
        auto kept = model_->new_cache();
        model_->forward(tokens_, *kept, nullptr);
        kept->truncate(299);
        std::vector<float> in_memory(vocab());
        model_->forward(std::span<const int>(tokens_).subspan(299), *kept, in_memory.data());
        QVERIFY(std::memcmp(in_memory.data(), logits.data(), logits.size() * sizeof(float)) == 0);
    }

    void a_grown_conversation_restores_the_saved_part() {
        std::vector<int> grown = tokens_;
        for (int id : conversation(20, vocab(), 99))
            grown.push_back(id);
        lc::LoadedCache r;
        std::vector<float> logits = resume(grown, &r);
        QVERIFY(r.used);
        QCOMPARE(r.tokens_restored, 300);
        const double err = relative_l2(logits, reprefill(grown));
        qInfo("grown by 20: relative L2 %.3g", err);
        QVERIFY(err < 1e-6);
    }

    void a_shortened_conversation_restores_its_length() {
        std::vector<int> cut(tokens_.begin(), tokens_.begin() + 150);
        lc::LoadedCache r;
        std::vector<float> logits = resume(cut, &r);
        QVERIFY(r.used);
        QCOMPARE(r.tokens_restored, 150);
        QVERIFY(relative_l2(logits, reprefill(cut)) < 1e-6);
    }

    // Policy: the saved tokens matching the conversation from its start are restored; the rest
    // is prefilled again.
    void a_changed_prefix_restores_only_the_common_part() {
        std::vector<int> edited = tokens_;
        edited[10] = (edited[10] + 1) % vocab();
        lc::LoadedCache r;
        std::vector<float> logits = resume(edited, &r);
        QVERIFY(r.used);
        QCOMPARE(r.tokens_restored, 10);
        const double err = relative_l2(logits, reprefill(edited));
        qInfo("token 10 changed: relative L2 %.3g", err);
        QVERIFY(err < 1e-6);
        QVERIFY(relative_l2(logits, full_logits_) > 1e-3);  // it is another conversation
    }

    void another_first_token_is_not_used() {
        std::vector<int> edited = tokens_;
        edited[0] = (edited[0] + 1) % vocab();
        auto cache = model_->new_cache();
        std::vector<int> restored;
        lc::LoadedCache r = lc::load_latent_cache(file_, *cache, restored, fp_, edited);
        QVERIFY(!r.used);
        QVERIFY(!r.reason.empty());
        QCOMPARE(cache->size(), 0);
    }

    void another_model_is_not_used() {
        auto cache = model_->new_cache();
        std::vector<int> restored;
        lc::LoadedCache r =
            lc::load_latent_cache(file_, *cache, restored, "0123456789abcdef", tokens_);
        QVERIFY(!r.used);
        QVERIFY(r.reason.find("fingerprint") != std::string::npos);
        QCOMPARE(cache->size(), 0);
        QVERIFY(restored.empty());
    }

    void another_cache_shape_is_not_used() {
        lc::ModelConfig c = model_->config();
        c.kv_lora_rank += 8;
        lc::HostPageAllocator pages;
        lc::LatentCache cache(c, 1024, pages);
        std::vector<int> restored;
        lc::LoadedCache r = lc::load_latent_cache(file_, cache, restored, fp_, tokens_);
        QVERIFY(!r.used);
        QVERIFY(r.reason.find("shape") != std::string::npos);
        QCOMPARE(cache.size(), 0);
    }

    void damaged_files_are_ignored() {
        const std::string good = read_all(file_);
        const fs::path dir = tmp_.path().toStdString();
        const size_t header = 9 * 4 + fp_.size() + 300 * 4 + 3 * 8;

        expect_ignored(dir / "missing.lckv", "missing file");
        write_all(dir / "empty.lckv", "");
        expect_ignored(dir / "empty.lckv", "empty file");
        write_all(dir / "trunc.lckv", good.substr(0, good.size() - 100));
        expect_ignored(dir / "trunc.lckv", "truncated payload");
        write_all(dir / "trunc_header.lckv", good.substr(0, 30));
        expect_ignored(dir / "trunc_header.lckv", "truncated header");
        write_all(dir / "tiny.lckv", good.substr(0, 3));
        expect_ignored(dir / "tiny.lckv", "three bytes");
        write_all(dir / "extra.lckv", good + "x");
        expect_ignored(dir / "extra.lckv", "extra byte");

        std::string bad = good;
        bad[header + bad.size() / 2 % (bad.size() - header)] ^= 0x10;
        write_all(dir / "flip_payload.lckv", bad);
        expect_ignored(dir / "flip_payload.lckv", "flipped payload byte");
        bad = good;
        bad[bad.size() - 1] ^= 0x80;
        write_all(dir / "flip_last.lckv", bad);
        expect_ignored(dir / "flip_last.lckv", "flipped last byte");
        bad = good;
        bad[9 * 4 + fp_.size() + 4 * 20] ^= 0x01;  // token 20's id
        write_all(dir / "flip_token.lckv", bad);
        expect_ignored(dir / "flip_token.lckv", "flipped token id");
        bad = good;
        bad[4 * 7] ^= 0x01;  // the token count
        write_all(dir / "flip_count.lckv", bad);
        expect_ignored(dir / "flip_count.lckv", "flipped token count");
        bad = good;
        bad[0] = 'X';
        write_all(dir / "magic.lckv", bad);
        expect_ignored(dir / "magic.lckv", "wrong magic");
        bad = good;
        bad[4] = 2;
        write_all(dir / "version.lckv", bad);
        expect_ignored(dir / "version.lckv", "another version");
        write_all(dir / "garbage.lckv", std::string(5000, '\xff'));
        expect_ignored(dir / "garbage.lckv", "garbage");
        std::string lckv_garbage =
            "LCKV" + std::string(4, '\x01') + std::string(4, '\xff') + std::string(200, '\x7f');
        write_all(dir / "garbage2.lckv", lckv_garbage);
        expect_ignored(dir / "garbage2.lckv", "garbage after magic");
        fs::create_directories(dir / "folder.lckv");
        expect_ignored(dir / "folder.lckv", "a folder");
    }

    void saving_again_replaces_the_file() {
        const fs::path file = fs::path(tmp_.path().toStdString()) / "again.lckv";
        auto cache = model_->new_cache();
        std::vector<int> first(tokens_.begin(), tokens_.begin() + 40);
        model_->forward(first, *cache, nullptr);
        lc::save_latent_cache(file, *cache, first, fp_);
        model_->forward(std::span<const int>(tokens_).subspan(40), *cache, nullptr);
        lc::save_latent_cache(file, *cache, tokens_, fp_);
        auto b = model_->new_cache();
        std::vector<int> restored;
        lc::LoadedCache r = lc::load_latent_cache(file, *b, restored, fp_, tokens_);
        QVERIFY(r.used);
        QCOMPARE(r.tokens_restored, 300);
        // An empty cache saves and loads as nothing to use.
        auto empty = model_->new_cache();
        lc::save_latent_cache(file, *empty, {}, fp_);
        r = lc::load_latent_cache(file, *b, restored, fp_, tokens_);
        QVERIFY(!r.used);
        QCOMPARE(b->size(), 0);
    }

    void saving_needs_one_id_per_position() {
        auto cache = model_->new_cache();
        model_->forward(std::span<const int>(tokens_).first(4), *cache, nullptr);
        QVERIFY_THROWS_EXCEPTION(
            lc::Error, lc::save_latent_cache(file_.parent_path() / "x.lckv", *cache, {1, 2}, fp_));
    }

    void an_unwritable_file_throws_naming_it() {
        auto cache = model_->new_cache();
        const fs::path file = fs::path(tmp_.path().toStdString()) / "no_such_dir" / "c.lckv";
        try {
            lc::save_latent_cache(file, *cache, {}, fp_);
            QFAIL("no exception");
        } catch (const lc::Error& e) {
            QVERIFY(std::string(e.what()).find("no_such_dir") != std::string::npos);
        }
    }

    void a_session_resumes_when_it_can_adopt_the_cache() {
        lc::Session session(*model_);
        lc::LoadedCache r = lc::resume_session(session, file_, fp_, tokens_);
        QVERIFY2(r.used, r.reason.c_str());
        QCOMPARE(r.tokens_restored, 300);
        QCOMPARE(session.tokens(), tokens_);
        int reused = 0;
        QVERIFY(session.set_context(tokens_, nullptr, &reused));
        QCOMPARE(reused, 299);
        std::vector<float> logits(session.logits().begin(), session.logits().end());
        QVERIFY(relative_l2(logits, full_logits_) < 1e-6);
    }
};

QTEST_APPLESS_MAIN(TestCacheFile)
#include "test_cache_file.moc"
