#include "conversation_settings.h"

#include <QVariant>
#include <cmath>

#include "base/error.h"
#include "engine/backend_factory.h"

namespace lc::ui {

namespace {

// A number from the store, or `fallback` when it is missing, not a number or outside [lo, hi]
// (`open_lo`/`open_hi` exclude that end).
double read_double(const QSettings& store, const char* key, double fallback, double lo, double hi,
                   bool open_lo = false, bool open_hi = false) {
    const QVariant v = store.value(key);
    if (!v.isValid()) return fallback;
    bool ok = false;
    const double x = v.toDouble(&ok);
    if (!ok || !std::isfinite(x)) return fallback;
    if (x < lo || (open_lo && x == lo)) return fallback;
    if (x > hi || (open_hi && x == hi)) return fallback;
    return x;
}

int read_int(const QSettings& store, const char* key, int fallback, int lo, int hi) {
    const QVariant v = store.value(key);
    if (!v.isValid()) return fallback;
    bool ok = false;
    const qlonglong x = v.toLongLong(&ok);
    if (!ok || x < lo || x > hi) return fallback;
    return static_cast<int>(x);
}

}  // namespace

ConversationSettings ConversationSettings::load_defaults(QSettings& store) {
    const ConversationSettings d;
    ConversationSettings s;
    store.beginGroup(QStringLiteral("defaults"));
    s.model_dir = store.value("model_dir", d.model_dir).toString();
    // A device name no build knows (a hand-edited file) falls back to the default.
    const QString device = store.value("device", d.device).toString();
    try {
        s.device = QString::fromUtf8(device_name(parse_device(device.toStdString())));
    } catch (const Error&) {
        s.device = d.device;
    }
    s.system_prompt = store.value("system_prompt", d.system_prompt).toString();
    // The ranges SamplingParams::validate accepts, with sane upper bounds.
    s.temperature = read_double(store, "temperature", d.temperature, 0.0, 5.0);
    s.top_p = read_double(store, "top_p", d.top_p, 0.0, 1.0, /*open_lo=*/true);
    s.top_k = read_int(store, "top_k", d.top_k, 0, 1 << 20);
    s.min_p = read_double(store, "min_p", d.min_p, 0.0, 1.0, false, /*open_hi=*/true);
    s.repetition_penalty =
        read_double(store, "repetition_penalty", d.repetition_penalty, 0.0, 10.0, true);
    s.max_tokens = read_int(store, "max_tokens", d.max_tokens, 1, 1 << 20);
    {
        const QVariant v = store.value("seed");
        bool ok = false;
        const quint64 seed = v.isValid() ? v.toULongLong(&ok) : 0;
        s.seed = ok ? seed : d.seed;
    }
    {
        const QVariant v = store.value("random_seed");
        // QSettings' ini files give back strings: accept "true"/"false" and numbers only.
        const QString text = v.toString().trimmed().toLower();
        if (text == "true" || text == "1")
            s.random_seed = true;
        else if (text == "false" || text == "0")
            s.random_seed = false;
        else
            s.random_seed = d.random_seed;
    }
    store.endGroup();
    s.remote = RemoteEngineSettings::load(store);
    return s;
}

void ConversationSettings::save_defaults(QSettings& store) const {
    store.beginGroup(QStringLiteral("defaults"));
    store.setValue("model_dir", model_dir);
    store.setValue("device", device);
    store.setValue("system_prompt", system_prompt);
    store.setValue("temperature", temperature);
    store.setValue("top_p", top_p);
    store.setValue("top_k", top_k);
    store.setValue("min_p", min_p);
    store.setValue("repetition_penalty", repetition_penalty);
    store.setValue("max_tokens", max_tokens);
    store.setValue("seed", seed);
    store.setValue("random_seed", random_seed);
    store.endGroup();
    remote.save(store);
}

GenerationOptions ConversationSettings::to_options(quint64 reply_seed) const {
    GenerationOptions o;
    o.sampling.temperature = static_cast<float>(temperature);
    o.sampling.top_p = static_cast<float>(top_p);
    o.sampling.top_k = top_k;
    o.sampling.min_p = static_cast<float>(min_p);
    o.sampling.repetition_penalty = static_cast<float>(repetition_penalty);
    o.sampling.seed = random_seed ? reply_seed : seed;
    o.max_tokens = max_tokens;
    o.stop_at_eos = true;
    return o;
}

}  // namespace lc::ui
