// The generation loop: seeded sampling is repeatable, cancel stops within a token, stop strings
// and every EOS id end a reply, streamed pieces add up to the decoded text, and a follow-up
// turn reuses the cache yet gives what a full re-prefill gives.
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/error.h"
#include "engine/generator.h"
#include "session/chat_turn.h"
#include "session/open_model.h"

namespace {

const std::string kFixture = std::string(LC_FIXTURES_DIR) + "/v3_yarn";

struct Loaded {
    std::unique_ptr<lc::Model> model;
    std::unique_ptr<lc::Tokenizer> tokenizer;
};

Loaded load(const std::string& dir = kFixture) {
    Loaded l;
    lc::OpenOptions o;
    o.path = dir;
    lc::OpenedModel opened = lc::open_model(o);
    l.model = std::move(opened.model);
    l.tokenizer = std::move(opened.tokenizer);
    return l;
}

lc::GenerationOptions options(float temperature, uint64_t seed, int max_tokens) {
    lc::GenerationOptions o;
    o.sampling.temperature = temperature;
    o.sampling.seed = seed;
    o.sampling.top_k = 0;
    o.sampling.top_p = 1.0f;
    o.sampling.min_p = 0.0f;
    o.max_tokens = max_tokens;
    o.stop_at_eos = false;
    return o;
}

const std::vector<int> kPrompt = {1, 37, 101, 250, 17, 300, 44, 9};

lc::GenerationResult run(Loaded& l, const lc::GenerationOptions& o,
                         const lc::TokenCallback& cb = {}, std::atomic<bool>* cancel = nullptr) {
    lc::Session s(*l.model);
    s.set_context(kPrompt, nullptr);
    return s.generate(*l.tokenizer, o, cb, cancel, std::chrono::steady_clock::now());
}

}  // namespace

class TestGenerator : public QObject {
    Q_OBJECT

private slots:
    // Sessions sharing one model: each generates from its own logits, whichever ran last
    // (kept on the host at set_context, or recomputed by feeding the last token again).
    void sessions_sharing_a_model_keep_their_own_logits() {
        Loaded l = load();
        const std::vector<int> other = {1, 5, 6, 7, 8, 9, 10, 11, 12, 13};
        const auto o = options(0.0f, 0, 6);
        auto now = [] { return std::chrono::steady_clock::now(); };

        lc::Session alone(*l.model);  // the reference: no other session in between
        alone.set_context(kPrompt, nullptr);
        const auto ref1 = alone.generate(*l.tokenizer, o, {}, nullptr, now());
        const auto ref2 = alone.generate(*l.tokenizer, o, {}, nullptr, now());
        lc::Session alone_other(*l.model);
        alone_other.set_context(other, nullptr);
        const auto ref_other = alone_other.generate(*l.tokenizer, o, {}, nullptr, now());

        lc::Session a(*l.model), b(*l.model);
        a.set_context(kPrompt, nullptr);
        b.set_context(other, nullptr);
        QCOMPARE(a.generate(*l.tokenizer, o, {}, nullptr, now()).ids, ref1.ids);  // host copy
        QCOMPARE(b.generate(*l.tokenizer, o, {}, nullptr, now()).ids, ref_other.ids);
        QCOMPARE(a.generate(*l.tokenizer, o, {}, nullptr, now()).ids, ref2.ids);  // re-fed
        QCOMPARE(a.tokens().size(), alone.tokens().size());
    }

    void same_seed_same_text() {
        Loaded l = load();
        auto a = run(l, options(1.0f, 42, 24));
        auto b = run(l, options(1.0f, 42, 24));
        auto c = run(l, options(1.0f, 43, 24));
        QCOMPARE(a.ids.size(), size_t(24));
        QVERIFY(a.ids == b.ids);
        QCOMPARE(a.text, b.text);
        QVERIFY(a.ids != c.ids);  // 24 draws from a spread distribution cannot all agree
    }

    void greedy_ignores_the_seed() {
        Loaded l = load();
        QVERIFY(run(l, options(0.0f, 1, 12)).ids == run(l, options(0.0f, 2, 12)).ids);
    }

    void max_tokens_ends_generation() {
        Loaded l = load();
        auto r = run(l, options(0.0f, 0, 5));
        QCOMPARE(r.ids.size(), size_t(5));
        QCOMPARE(r.reason, lc::FinishReason::MaxTokens);
    }

    void streamed_text_is_the_decoded_text() {
        Loaded l = load();
        std::string streamed;
        int events = 0;
        auto r = run(l, options(1.0f, 5, 30), [&](const lc::TokenEvent& ev) {
            streamed += ev.text;
            QCOMPARE(ev.index, events);
            QCOMPARE(ev.cache.tokens, static_cast<int>(kPrompt.size()) + events);
            ++events;
        });
        QCOMPARE(events, 30);
        QCOMPARE(streamed, r.text);
        QCOMPARE(r.text, l.tokenizer->decode(r.ids));
    }

    void stop_string_cuts_the_text() {
        Loaded l = load();
        auto full = run(l, options(0.0f, 0, 24));
        QVERIFY(full.text.size() > 8);
        const std::string stop = full.text.substr(full.text.size() / 2, 3);
        const std::string expected = full.text.substr(0, full.text.find(stop));
        auto o = options(0.0f, 0, 24);
        o.stop_strings = {stop};
        std::string streamed;
        auto r = run(l, o, [&](const lc::TokenEvent& ev) { streamed += ev.text; });
        QCOMPARE(r.reason, lc::FinishReason::StopString);
        QCOMPARE(r.text, expected);
        QCOMPARE(streamed, expected);  // no part of the stop string leaked out
        QVERIFY(r.ids.size() < full.ids.size());
    }

    void cancel_from_the_callback_stops_at_once() {
        Loaded l = load();
        std::atomic<bool> cancel{false};
        auto r = run(
            l, options(1.0f, 3, 100),
            [&](const lc::TokenEvent& ev) {
                if (ev.index == 2) cancel = true;
            },
            &cancel);
        QCOMPARE(r.reason, lc::FinishReason::Cancelled);
        QCOMPARE(r.ids.size(), size_t(3));
    }

    void cancel_from_another_thread_within_one_token() {
        Loaded l = load();
        std::atomic<bool> cancel{false};
        std::atomic<int> after_cancel{0};
        std::thread stopper([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
            cancel = true;
        });
        // A slow consumer (5 ms a token) so the cancel lands mid-reply, as a GUI's Stop would.
        auto r = run(
            l, options(1.0f, 3, 100),
            [&](const lc::TokenEvent&) {
                if (cancel) ++after_cancel;
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            },
            &cancel);
        stopper.join();
        QCOMPARE(r.reason, lc::FinishReason::Cancelled);
        QVERIFY(after_cancel <= 1);  // at most the token that was in flight
    }

    void follow_up_reuses_the_cache_and_equals_a_full_prefill() {
        Loaded l = load();
        lc::Session s(*l.model);
        s.set_context(kPrompt, nullptr);
        auto first = s.generate(*l.tokenizer, options(0.0f, 0, 6), {}, nullptr,
                                std::chrono::steady_clock::now());
        std::vector<int> conversation = kPrompt;
        conversation.insert(conversation.end(), first.ids.begin(), first.ids.end());
        for (int id : {5, 77, 123, 9})
            conversation.push_back(id);

        int reused = -1;
        s.set_context(conversation, nullptr, &reused);
        // Everything but the last generated token (never fed) came from the cache.
        QCOMPARE(reused, static_cast<int>(kPrompt.size() + first.ids.size() - 1));
        std::vector<float> resumed(s.logits().begin(), s.logits().end());

        lc::Session fresh(*l.model);
        fresh.set_context(conversation, nullptr);
        double diff = 0, norm = 0;
        for (size_t i = 0; i < resumed.size(); ++i) {
            diff += std::pow(resumed[i] - fresh.logits()[i], 2);
            norm += std::pow(fresh.logits()[i], 2);
        }
        QVERIFY(std::sqrt(diff / norm) < 1e-5);
        auto a = s.generate(*l.tokenizer, options(0.0f, 0, 8), {}, nullptr,
                            std::chrono::steady_clock::now());
        auto b = fresh.generate(*l.tokenizer, options(0.0f, 0, 8), {}, nullptr,
                                std::chrono::steady_clock::now());
        QVERIFY(a.ids == b.ids);
    }

    void chat_follow_up_prefills_only_the_new_turn() {
        Loaded l = load();
        const lc::ChatTemplate templ = lc::ChatTemplate::load(kFixture);
        lc::Session session(*l.model);
        lc::ChatContext chat(session, *l.tokenizer, templ);
        std::vector<lc::Message> messages = {{"user", "Once upon a time there was a cat."}};
        auto one = chat.run(messages, options(0.0f, 0, 8), {}, nullptr).generation;
        QCOMPARE(one.reused_tokens, 0);
        const int after_first = static_cast<int>(chat.session().tokens().size());
        messages = chat.messages();
        QCOMPARE(messages.size(), size_t(2));
        messages.emplace_back("user", "Tell me more.");
        auto two = chat.run(messages, options(0.0f, 0, 8), {}, nullptr).generation;
        QVERIFY(two.reused_tokens >= after_first - 1);
        // Only the new turn is prefilled: its text, the close of the last reply and the reply's
        // last token (generated but never fed); a few tokens of slack for how the close encodes.
        const int turn =
            static_cast<int>(l.tokenizer->encode("User: Tell me more.\nAssistant:", false).size());
        QVERIFY2(
            two.prompt_tokens <= turn + 5,
            qPrintable(QString("%1 prefilled for a turn of %2").arg(two.prompt_tokens).arg(turn)));
        QCOMPARE(chat.messages().size(), size_t(4));
        QCOMPARE(chat.messages()[2].content, std::string("Tell me more."));
    }

    void chat_slides_when_the_context_fills() {
        Loaded l = load();
        const lc::ChatTemplate templ = lc::ChatTemplate::load(kFixture);
        lc::Session session(*l.model, 96);
        lc::ChatContext chat(session, *l.tokenizer, templ);
        std::vector<lc::Message> messages;
        int dropped = 0;
        for (int turn = 0; turn < 6; ++turn) {
            messages.emplace_back("user", "Tell me a story about a dog and a ball.");
            const lc::ChatTurnResult r = chat.run(messages, options(0.0f, 0, 16), {}, nullptr);
            QCOMPARE(r.dropped > 0, !r.notice.empty());
            dropped += r.dropped;
            messages = chat.messages();
            QCOMPARE(messages.back().role, std::string("assistant"));
            QVERIFY(chat.session().cache().size() <= 96);
        }
        // Six exchanges of ~30 tokens each cannot all stay in 96 tokens.
        QVERIFY(dropped > 0);
        QVERIFY(messages.size() < 12);
    }

    // generation_config.json's eos_token_id may be a list (GLM, DeepSeek-V3.1 have several):
    // each id in it ends a reply, not only the first one the tokenizer is given.
    void every_eos_id_stops_generation() {
        Loaded plain = load();
        const auto free_run = run(plain, options(0.0f, 0, 6));  // greedy, EOS ignored
        const int target = free_run.ids[2];
        const auto first_at = static_cast<size_t>(
            std::find(free_run.ids.begin(), free_run.ids.end(), target) - free_run.ids.begin());
        int unused = 3;  // an id the greedy reply never produces
        while (std::find(free_run.ids.begin(), free_run.ids.end(), unused) != free_run.ids.end())
            ++unused;
        const auto json_list = [](std::initializer_list<int> ids) {
            std::string text = "[";
            for (int id : ids) {
                if (text.size() > 1) text += ", ";
                text += std::to_string(id);
            }
            return text + "]";
        };
        const std::string lists[] = {json_list({unused, target}), json_list({target, unused}),
                                     json_list({unused, unused + 1, target})};
        for (const std::string& list : lists) {
            QTemporaryDir tmp;
            const std::filesystem::path dir = tmp.path().toStdString();
            std::filesystem::copy(kFixture, dir, std::filesystem::copy_options::recursive);
            std::ofstream(dir / "generation_config.json")
                << R"({"bos_token_id": 1, "eos_token_id": )" << list << "}";
            Loaded l = load(dir.string());
            auto o = options(0.0f, 0, 6);
            o.stop_at_eos = true;
            const auto r = run(l, o);
            QVERIFY2(r.reason == lc::FinishReason::Eos, list.c_str());
            QCOMPARE(r.ids.size(), first_at + 1);
            QCOMPARE(r.ids.back(), target);
        }
    }

    // A Jinja template renders the whole conversation again for a follow-up (it sees all the
    // messages); the session still prefills only what differs from what it holds.
    void jinja_follow_up_renders_all_and_reuses_the_prefix() {
        QTemporaryDir tmp;
        const std::filesystem::path dir = tmp.path().toStdString();
        std::filesystem::copy(kFixture, dir, std::filesystem::copy_options::recursive);
        std::ofstream(dir / "chat_template.jinja")
            << "{% for m in messages %}{% if m.role == 'user' %}User: {{ m.content }}\n"
               "{% else %}Assistant: {{ m.content }}\n{% endif %}{% endfor %}"
               "{% if add_generation_prompt %}Assistant:{% endif %}";
        Loaded l = load(dir.string());
        const lc::ChatTemplate templ = lc::ChatTemplate::load(dir);
        QVERIFY(!templ.renders_incrementally());
        lc::Session session(*l.model);
        lc::ChatContext chat(session, *l.tokenizer, templ);
        std::vector<lc::Message> messages = {{"user", "Once upon a time there was a cat."}};
        chat.run(messages, options(0.0f, 0, 8), {}, nullptr);
        const int first_prompt =
            static_cast<int>(lc::encode_chat(*l.tokenizer, templ, messages, true).size());
        messages = chat.messages();
        messages.emplace_back("user", "Tell me more.");
        const auto two = chat.run(messages, options(0.0f, 0, 8), {}, nullptr).generation;
        QVERIFY2(two.reused_tokens >= first_prompt,
                 qPrintable(QString("%1 reused of a first prompt of %2")
                                .arg(two.reused_tokens)
                                .arg(first_prompt)));
        // The prompt fed is the template's whole conversation, as a fresh session would see it.
        const std::vector<int> whole = lc::encode_chat(*l.tokenizer, templ, messages, true);
        const std::vector<int>& held = chat.session().tokens();
        QVERIFY(held.size() >= whole.size());
        QVERIFY(std::equal(whole.begin(), whole.end(), held.begin()));
    }

    void bad_sampling_values_are_errors() {
        Loaded l = load();
        auto o = options(1.0f, 0, 4);
        o.sampling.top_p = 1.5f;
        QVERIFY_THROWS_EXCEPTION(lc::Error, run(l, o));
    }
};

QTEST_APPLESS_MAIN(TestGenerator)
#include "test_generator.moc"
