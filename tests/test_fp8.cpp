// FP8 block-scaled checkpoints (DeepSeek-V3's quantization_config fp8): the E4M3 decoder and
// the BF16 rounding against references built here from the format definitions; a V3 model made
// FP8 by this test from tests/fixtures/v3_yarn, whose logits must equal those of the same model
// dequantized by this test and written as BF16, and stay near the F32 fixture's reference; and
// every bad quantization_config or scale tensor refused with one lc::Error naming the culprit.
#include <QtTest>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "cli_runner.h"
#include "engine/model.h"
#include "error_of.h"
#include "formats/fp8.h"
#include "formats/npy.h"
#include "formats/safetensors.h"
#include "session/open_model.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using lc_test::error_of;

const fs::path kFixture = fs::path(LC_FIXTURES_DIR) / "v3_yarn";

// ---- References, written from the format definitions, sharing no code with core/ ----

// E4M3FN: (-1)^s * 2^(e-7) * (1 + m/8) for e in 1..15, (-1)^s * 2^-6 * m/8 for e == 0,
// NaN for e == 15 and m == 7 (no infinities).
double ref_e4m3(uint8_t v) {
    const int s = v >> 7, e = (v >> 3) & 15, m = v & 7;
    if (e == 15 && m == 7) return std::nan("");
    const double mag = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
    return s ? -mag : mag;
}

uint32_t bits_of(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
}

// Round to nearest BF16, ties to even, by comparing the two neighbours in double (the value
// past the largest finite BF16 is 2^128, where IEEE's rounding goes to infinity).
uint16_t ref_bf16(float f) {
    if (std::isnan(f)) return 0x7fc0;
    const uint32_t b = bits_of(f);
    const uint16_t down = static_cast<uint16_t>(b >> 16), up = static_cast<uint16_t>(down + 1);
    if ((b & 0xffffu) == 0) return down;
    auto value = [](uint16_t h) {
        if ((h & 0x7fffu) == 0x7f80u)
            return (h & 0x8000u) ? -std::ldexp(1.0, 128) : std::ldexp(1.0, 128);
        uint32_t w = static_cast<uint32_t>(h) << 16;
        float g;
        std::memcpy(&g, &w, 4);
        return static_cast<double>(g);
    };
    const double x = f, dd = std::abs(x - value(down)), du = std::abs(value(up) - x);
    if (dd < du) return down;
    if (du < dd) return up;
    return (down & 1u) ? up : down;
}

// The nearest E4M3 code (ties to the even code), saturating at +-448. For the values
// quantization produces (|x| <= 448) this is a cast to float8_e4m3fn (checked once against
// ml_dtypes on every weight this test quantizes: the same bytes).
uint8_t encode_e4m3(float x) {
    static const std::array<double, 256> value = [] {
        std::array<double, 256> v{};
        for (int c = 0; c < 256; ++c)
            v[c] = ref_e4m3(static_cast<uint8_t>(c));
        return v;
    }();
    const double a = std::abs(static_cast<double>(x));
    uint8_t best = 0;
    for (int c = 1; c <= 0x7e; ++c) {
        const double dc = std::abs(value[c] - a);
        const double db = std::abs(value[best] - a);
        if (dc < db || (dc == db && (c & 1) == 0)) best = static_cast<uint8_t>(c);
    }
    return static_cast<uint8_t>(best | (std::signbit(x) ? 0x80 : 0));
}

// ---- A checkpoint written by the test ----

struct Tensor {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    std::string bytes;
};

template <class T>
std::string raw(const std::vector<T>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

void write_text(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

void write_safetensors(const fs::path& path, const std::vector<Tensor>& tensors) {
    json header = json::object();
    std::string data;
    for (const Tensor& t : tensors) {
        header[t.name] = {{"dtype", t.dtype},
                          {"shape", t.shape},
                          {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
        data += t.bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::string len(8, '\0');
    for (int i = 0; i < 8; ++i)
        len[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << len << text << data;
}

json read_json(const fs::path& path) {
    std::ifstream in(path);
    return json::parse(in);
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// DeepSeek-V3 quantizes the attention and MLP projections; embeddings, norms, the router and
// lm_head stay BF16 (the router's correction bias F32).
bool is_quantized_linear(const std::string& name, const std::vector<int64_t>& shape) {
    return shape.size() == 2 &&
           (ends_with(name, "_proj.weight") || ends_with(name, "_proj_with_mqa.weight"));
}

struct Checkpoint {
    json config;               // the fixture's, with quantization_config
    std::vector<Tensor> fp8;   // FP8 linears + *_scale_inv, BF16 rest
    std::vector<Tensor> bf16;  // the same, linears dequantized by this test
    std::map<std::string, std::vector<uint16_t>> dequantized;  // BF16 bits per FP8 linear
    int64_t fp8_elements = 0;
    size_t fp8_bytes = 0;  // FP8 weights and scales as stored
};

// The F32 fixture quantized as DeepSeek's weight_quant does: per block, scale = amax / 448,
// W = e4m3(x / scale), W_scale_inv = scale.
Checkpoint quantize_fixture(int br, int bc) {
    Checkpoint ck;
    ck.config = read_json(kFixture / "config.json");
    ck.config["torch_dtype"] = "bfloat16";
    ck.config["quantization_config"] = {{"activation_scheme", "dynamic"},
                                        {"fmt", "e4m3"},
                                        {"quant_method", "fp8"},
                                        {"weight_block_size", {br, bc}}};
    const lc::SafetensorsArchive in = lc::SafetensorsArchive::open_dir(kFixture);
    for (const std::string& name : in.names()) {
        const lc::TensorView& t = in.get(name);
        std::vector<float> x(static_cast<size_t>(t.numel()));
        for (size_t i = 0; i < x.size(); ++i)
            x[i] = lc::load_as_f32(t.data, t.dtype, i);
        if (ends_with(name, "e_score_correction_bias")) {
            ck.fp8.push_back({name, "F32", t.shape, raw(x)});
            ck.bf16.push_back(ck.fp8.back());
            continue;
        }
        if (!is_quantized_linear(name, t.shape)) {
            std::vector<uint16_t> h(x.size());
            for (size_t i = 0; i < x.size(); ++i)
                h[i] = ref_bf16(x[i]);
            ck.fp8.push_back({name, "BF16", t.shape, raw(h)});
            ck.bf16.push_back(ck.fp8.back());
            continue;
        }
        const int64_t R = t.shape[0], C = t.shape[1];
        const int64_t sr = (R + br - 1) / br, sc = (C + bc - 1) / bc;
        std::vector<float> scale(static_cast<size_t>(sr * sc));
        std::vector<uint8_t> q(x.size());
        std::vector<uint16_t> deq(x.size());
        for (int64_t i = 0; i < sr; ++i) {
            for (int64_t j = 0; j < sc; ++j) {
                float amax = 0;
                for (int64_t r = i * br; r < std::min(R, (i + 1) * br); ++r)
                    for (int64_t c = j * bc; c < std::min(C, (j + 1) * bc); ++c)
                        amax = std::max(amax, std::abs(x[r * C + c]));
                const float s = amax > 0 ? amax / 448.0f : 1.0f;
                scale[i * sc + j] = s;
                for (int64_t r = i * br; r < std::min(R, (i + 1) * br); ++r) {
                    for (int64_t c = j * bc; c < std::min(C, (j + 1) * bc); ++c) {
                        q[r * C + c] = encode_e4m3(x[r * C + c] / s);
                        // weight_dequant: float32(W) * scale_inv in float32, stored as BF16.
                        deq[r * C + c] = ref_bf16(static_cast<float>(ref_e4m3(q[r * C + c])) * s);
                    }
                }
            }
        }
        ck.fp8.push_back({name, "F8_E4M3", t.shape, raw(q)});
        ck.fp8.push_back({name + "_scale_inv", "F32", {sr, sc}, raw(scale)});
        ck.bf16.push_back({name, "BF16", t.shape, raw(deq)});
        ck.dequantized[name] = deq;
        ck.fp8_elements += R * C;
        ck.fp8_bytes += q.size() + scale.size() * 4;
    }
    return ck;
}

void write_model(const fs::path& dir, const json& config, const std::vector<Tensor>& tensors) {
    fs::create_directories(dir);
    write_text(dir / "config.json", config.dump(2));
    fs::copy_file(kFixture / "generation_config.json", dir / "generation_config.json",
                  fs::copy_options::overwrite_existing);
    write_safetensors(dir / "model.safetensors", tensors);
}

std::unique_ptr<lc::Model> load(const fs::path& dir) {
    lc::OpenOptions o;
    o.path = dir;
    o.load_tokenizer = false;
    o.threads = 2;
    return lc::open_model(o).model;
}

std::vector<int> input_ids() {
    const json ref = read_json(kFixture / "ref.json");
    std::vector<int> ids;
    for (const auto& v : ref.at("input_ids"))
        ids.push_back(v.get<int>());
    return ids;
}

std::vector<float> all_logits(lc::Model& m, const std::vector<int>& ids) {
    auto cache = m.new_cache();
    std::vector<float> out(ids.size() * m.config().vocab_size);
    m.forward(ids, *cache, out.data(), true);
    return out;
}

double relative_l2(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
        norm += double(b[i]) * b[i];
    }
    return std::sqrt(diff / norm);
}

// Every matrix of the model with its checkpoint name.
std::vector<std::pair<std::string, lc::WeightMatrix>> named_matrices(const lc::Model& m) {
    std::vector<std::pair<std::string, lc::WeightMatrix>> out;
    const lc::ModelWeights& w = m.weights();
    out.push_back({"model.embed_tokens.weight", w.embed});
    out.push_back({"lm_head.weight", w.lm_head});
    auto ffn = [&](const std::string& p, const lc::FeedForwardWeights& f) {
        out.push_back({p + "gate_proj.weight", f.gate});
        out.push_back({p + "up_proj.weight", f.up});
        out.push_back({p + "down_proj.weight", f.down});
    };
    for (size_t l = 0; l < w.layers.size(); ++l) {
        const lc::LayerWeights& L = w.layers[l];
        const std::string p = "model.layers." + std::to_string(l) + ".";
        out.push_back({p + "self_attn.q_a_proj.weight", L.q_a_proj});
        out.push_back({p + "self_attn.q_b_proj.weight", L.q_b_proj});
        out.push_back({p + "self_attn.kv_a_proj_with_mqa.weight", L.kv_a_proj});
        out.push_back({p + "self_attn.kv_b_proj.weight", L.kv_b_proj});
        out.push_back({p + "self_attn.o_proj.weight", L.o_proj});
        if (!L.is_moe) {
            ffn(p + "mlp.", L.dense);
            continue;
        }
        out.push_back({p + "mlp.gate.weight", L.router});
        ffn(p + "mlp.shared_experts.", L.shared);
        for (size_t e = 0; e < L.experts.size(); ++e)
            ffn(p + "mlp.experts." + std::to_string(e) + ".", L.experts[e]);
    }
    return out;
}

Tensor& tensor_named(std::vector<Tensor>& ts, const std::string& name) {
    for (Tensor& t : ts)
        if (t.name == name) return t;
    throw std::runtime_error("test bug: no tensor " + name);
}

// A bad checkpoint: a change to the [16, 16] one and the words its error must contain.
struct BadCase {
    const char* name;
    std::function<void(json& config, std::vector<Tensor>& tensors)> spoil;
    std::vector<std::string> needles;
};

const std::string kL0 = "model.layers.0.";
const std::string kQa = kL0 + "self_attn.q_a_proj.weight";
const std::string kO = kL0 + "self_attn.o_proj.weight";
const std::string kExpert = "model.layers.1.mlp.experts.3.down_proj.weight";

json& qc(json& config) {
    return config["quantization_config"];
}

std::vector<BadCase> bad_cases() {
    return {
        {"quant_method awq",
         [](json& c, auto&) { qc(c)["quant_method"] = "awq"; },
         {"config.json", "quantization_config.quant_method", "'awq'"}},
        {"quant_method missing",
         [](json& c, auto&) { qc(c).erase("quant_method"); },
         {"config.json", "quant_method", "missing"}},
        {"fmt e5m2",
         [](json& c, auto&) { qc(c)["fmt"] = "e5m2"; },
         {"config.json", "quantization_config.fmt", "e5m2"}},
        {"activation_scheme static",
         [](json& c, auto&) { qc(c)["activation_scheme"] = "static"; },
         {"config.json", "activation_scheme", "static"}},
        {"block size 128x128 for 16x16 scales",
         [](json& c, auto&) {
             qc(c)["weight_block_size"] = {128, 128};
         },
         {kQa + "_scale_inv", "weight_block_size [128, 128]", "needs [1, 1]"}},
        {"block size 16x32 for 16x16 scales",
         [](json& c, auto&) {
             qc(c)["weight_block_size"] = {16, 32};
         },
         {kQa + "_scale_inv", "[3, 4]", "needs [3, 2]"}},
        {"block size of one number",
         [](json& c, auto&) { qc(c)["weight_block_size"] = {16}; },
         {"config.json", "weight_block_size", "[16]"}},
        {"block size zero",
         [](json& c, auto&) {
             qc(c)["weight_block_size"] = {0, 16};
         },
         {"config.json", "weight_block_size", "positive"}},
        {"block size null",
         [](json& c, auto&) { qc(c)["weight_block_size"] = nullptr; },
         {"config.json", "weight_block_size", "null"}},
        {"quantization_config not an object",
         [](json& c, auto&) { qc(c) = "fp8"; },
         {"config.json", "'quantization_config'", "object"}},
        {"FP8 weights without quantization_config",
         [](json& c, auto&) { c.erase("quantization_config"); },
         {kQa, "F8_E4M3", "no quantization_config"}},
        {"scale_inv missing",
         [](json&, std::vector<Tensor>& ts) {
             std::erase_if(ts, [](const Tensor& t) { return t.name == kExpert + "_scale_inv"; });
         },
         {kExpert + "_scale_inv", "missing"}},
        {"scale_inv transposed",
         [](json&, std::vector<Tensor>& ts) {
             tensor_named(ts, kO + "_scale_inv").shape = {3, 4};
         },
         {kO + "_scale_inv", "has shape [3, 4]", "needs [4, 3]"}},
        {"scale_inv 3-D",
         [](json&, std::vector<Tensor>& ts) {
             tensor_named(ts, kO + "_scale_inv").shape = {1, 4, 3};
         },
         {kO + "_scale_inv", "has shape [1, 4, 3]"}},
        {"scale_inv I32",
         [](json&, std::vector<Tensor>& ts) { tensor_named(ts, kO + "_scale_inv").dtype = "I32"; },
         {kO + "_scale_inv", "dtype I32"}},
        {"scale_inv NaN",
         [](json&, std::vector<Tensor>& ts) {
             const float nan = std::nanf("");
             std::memcpy(tensor_named(ts, kO + "_scale_inv").bytes.data() + 4 * 5, &nan, 4);
         },
         {kO + "_scale_inv", "not finite", "block [1, 2]"}},
        {"weight F8_E5M2",
         [](json&, std::vector<Tensor>& ts) { tensor_named(ts, kO).dtype = "F8_E5M2"; },
         {kO, "dtype F8_E5M2"}},
        {"FP8 norm",
         [](json&, std::vector<Tensor>& ts) {
             Tensor& t = tensor_named(ts, kL0 + "input_layernorm.weight");
             t.dtype = "F8_E4M3";
             t.bytes.resize(t.bytes.size() / 2, '\x38');  // 1.0
         },
         {kL0 + "input_layernorm.weight", "dtype F8_E4M3"}},
    };
}

}  // namespace

class TestFp8 : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    fs::path root() const { return fs::path(tmp_.path().toStdString()); }

private slots:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    // All 256 codes against the definition. Cross-checked once when written against
    // ml_dtypes 0.7.0's float8_e4m3fn (numpy view of bytes 0..255 as float32): the FNV-1a hash
    // of those 256 float32 bit patterns, NaN as 0x7fc00000, was 0xdad1d9c50f749ca5.
    void e4m3DecoderMatchesDefinition() {
        uint64_t hash = 0xcbf29ce484222325ull;
        for (int i = 0; i < 256; ++i) {
            const uint8_t v = static_cast<uint8_t>(i);
            const float got = lc::fp8_e4m3_to_f32(v);
            const double want = ref_e4m3(v);
            if (std::isnan(want)) {
                QVERIFY2(std::isnan(got), qPrintable(QString::number(i, 16)));
            } else {
                QVERIFY2(
                    static_cast<double>(got) == want && std::signbit(got) == std::signbit(want),
                    qPrintable(QString("0x%1: %2 != %3").arg(i, 0, 16).arg(got).arg(want)));
            }
            const uint32_t b = std::isnan(got) ? 0x7fc00000u : bits_of(got);
            for (int k = 0; k < 4; ++k) {
                hash ^= (b >> (8 * k)) & 0xffu;
                hash *= 0x100000001b3ull;
            }
        }
        QCOMPARE(hash, uint64_t{0xdad1d9c50f749ca5ull});
        QCOMPARE(lc::fp8_e4m3_to_f32(0x7e), 448.0f);
        QCOMPARE(lc::fp8_e4m3_to_f32(0xfe), -448.0f);
        QCOMPARE(lc::fp8_e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
        QCOMPARE(lc::fp8_e4m3_to_f32(0x07), 7 * std::ldexp(1.0f, -9));
        QCOMPARE(lc::fp8_e4m3_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
        QCOMPARE(lc::fp8_e4m3_to_f32(0x38), 1.0f);
        QVERIFY(std::signbit(lc::fp8_e4m3_to_f32(0x80)) && lc::fp8_e4m3_to_f32(0x80) == 0.0f);
        QVERIFY(std::isnan(lc::fp8_e4m3_to_f32(0x7f)) && std::isnan(lc::fp8_e4m3_to_f32(0xff)));
        QVERIFY(!std::isinf(lc::fp8_e4m3_to_f32(0x78)));  // e = 15, m = 0 is 256, not infinity
        QCOMPARE(lc::fp8_e4m3_to_f32(0x78), 256.0f);
        QVERIFY(lc::is_fp8_e4m3_dtype_text("F8_E4M3"));
        QVERIFY(!lc::is_fp8_e4m3_dtype_text("F8_E5M2"));
    }

    void bf16RoundsToNearestEven() {
        auto f = [](uint32_t b) {
            float x;
            std::memcpy(&x, &b, 4);
            return x;
        };
        QCOMPARE(lc::f32_to_bf16(f(0x3f808000u)), uint16_t{0x3f80});  // tie, even below
        QCOMPARE(lc::f32_to_bf16(f(0x3f818000u)), uint16_t{0x3f82});  // tie, even above
        QCOMPARE(lc::f32_to_bf16(f(0x3f808001u)), uint16_t{0x3f81});  // past the tie
        QCOMPARE(lc::f32_to_bf16(f(0x3f807fffu)), uint16_t{0x3f80});
        QCOMPARE(lc::f32_to_bf16(f(0xbf818000u)), uint16_t{0xbf82});  // sign kept
        QCOMPARE(lc::f32_to_bf16(f(0x7f7fffffu)), uint16_t{0x7f80});  // overflows to infinity
        QCOMPARE(lc::f32_to_bf16(f(0x00018000u)), uint16_t{0x0002});  // subnormal tie
        QVERIFY((lc::f32_to_bf16(std::nanf("")) & 0x7fffu) > 0x7f80u);
        // The reference agrees on those, on every FP8 value times assorted scales, and on
        // random bit patterns.
        std::mt19937 rng(17);
        std::vector<float> xs = {f(0x3f808000u), f(0x3f818000u), f(0x7f7fffffu), f(0x00018000u)};
        for (int i = 0; i < 256; ++i)
            for (float s : {1.0f, 0.0013f, 3.7e-5f, 91.5f, 1.0f / 448.0f})
                if (!std::isnan(lc::fp8_e4m3_to_f32(static_cast<uint8_t>(i))))
                    xs.push_back(lc::fp8_e4m3_to_f32(static_cast<uint8_t>(i)) * s);
        for (int i = 0; i < 200000; ++i) {
            const float x = f(static_cast<uint32_t>(rng()));
            if (!std::isnan(x)) xs.push_back(x);
        }
        for (float x : xs)
            QVERIFY2(lc::f32_to_bf16(x) == ref_bf16(x),
                     qPrintable(QString("bits 0x%1").arg(bits_of(x), 8, 16, QChar('0'))));
    }

    // A 5x7 matrix in 2x3 blocks: partial blocks in both directions, scales as F32 and BF16.
    void dequantizesPartialBlocks() {
        const int64_t R = 5, C = 7, br = 2, bc = 3, sr = 3, sc = 3;
        std::vector<uint8_t> w(R * C);
        for (size_t i = 0; i < w.size(); ++i)
            w[i] = static_cast<uint8_t>((i * 37 + 11) % 256 == 0x7f ? 1 : (i * 37 + 11) % 256);
        std::vector<float> s(sr * sc);
        for (size_t i = 0; i < s.size(); ++i)
            s[i] = 0.001f * static_cast<float>(i + 1) * (i % 2 ? -1.0f : 1.0f);
        std::vector<uint16_t> s16(s.size());
        for (size_t i = 0; i < s.size(); ++i)
            s16[i] = ref_bf16(s[i]);
        for (bool bf16_scales : {false, true}) {
            lc::Fp8Matrix m;
            m.weight = w.data();
            m.scale_inv = bf16_scales ? static_cast<const void*>(s16.data()) : s.data();
            m.scale_dtype = bf16_scales ? lc::DType::BF16 : lc::DType::F32;
            m.rows = R;
            m.cols = C;
            m.block_rows = br;
            m.block_cols = bc;
            std::vector<uint16_t> out(R * C, 0xdead);
            lc::dequantize_fp8_rows(m, 0, 2, out.data());  // in two pieces, as the loader may
            lc::dequantize_fp8_rows(m, 2, R, out.data());
            for (int64_t r = 0; r < R; ++r) {
                for (int64_t c = 0; c < C; ++c) {
                    const size_t k = static_cast<size_t>((r / br) * sc + c / bc);
                    const float scale = bf16_scales ? lc::bf16_to_f32(s16[k]) : s[k];
                    const uint16_t want =
                        ref_bf16(static_cast<float>(ref_e4m3(w[r * C + c])) * scale);
                    QCOMPARE(out[r * C + c], want);
                }
            }
        }
    }

    void configParsesQuantization() {
        json j = read_json(kFixture / "config.json");
        QVERIFY(!lc::ModelConfig::from_json(j, "config.json").quantization.fp8);
        j["quantization_config"] = {{"quant_method", "fp8"}};  // transformers' defaults
        lc::ModelConfig c = lc::ModelConfig::from_json(j, "config.json");
        QVERIFY(c.quantization.fp8);
        QCOMPARE(c.quantization.block_rows, 128);
        QCOMPARE(c.quantization.block_cols, 128);
        // DeepSeek-V3's own block, with a key that concerns activations only.
        j["quantization_config"] = {{"activation_scheme", "dynamic"},
                                    {"fmt", "e4m3"},
                                    {"quant_method", "fp8"},
                                    {"scale_fmt", "ue8m0"},
                                    {"weight_block_size", {128, 64}}};
        c = lc::ModelConfig::from_json(j, "config.json");
        QCOMPARE(c.quantization.block_rows, 128);
        QCOMPARE(c.quantization.block_cols, 64);
    }

    void fp8ModelEqualsDequantizedBf16Model_data() {
        QTest::addColumn<int>("br");
        QTest::addColumn<int>("bc");
        QTest::newRow("16x16") << 16 << 16;
        QTest::newRow("32x16") << 32 << 16;      // rows and columns told apart
        QTest::newRow("128x128") << 128 << 128;  // one block per matrix here
    }
    void fp8ModelEqualsDequantizedBf16Model() {
        QFETCH(int, br);
        QFETCH(int, bc);
        const Checkpoint ck = quantize_fixture(br, bc);
        const fs::path fp8_dir = root() / ("fp8_" + std::to_string(br) + "x" + std::to_string(bc));
        const fs::path bf16_dir =
            root() / ("bf16_" + std::to_string(br) + "x" + std::to_string(bc));
        write_model(fp8_dir, ck.config, ck.fp8);
        json plain = ck.config;
        plain.erase("quantization_config");
        write_model(bf16_dir, plain, ck.bf16);

        auto fp8 = load(fp8_dir);
        auto bf16 = load(bf16_dir);
        const lc::ModelWeights& w = fp8->weights();

        // The loader's BF16 weights are bit for bit the test's own dequantization.
        size_t seen = 0;
        for (const auto& [name, m] : named_matrices(*fp8)) {
            QVERIFY2(m.dtype == lc::DType::BF16, name.c_str());
            auto it = ck.dequantized.find(name);
            if (it == ck.dequantized.end()) continue;
            ++seen;
            QVERIFY2(m.data != nullptr && m.row_stride == m.cols, name.c_str());
            QVERIFY2(std::memcmp(m.data, it->second.data(), it->second.size() * 2) == 0,
                     name.c_str());
        }
        QCOMPARE(seen, ck.dequantized.size());
        QCOMPARE(w.fp8_matrices, ck.dequantized.size());
        QCOMPARE(w.dequantized_bytes, static_cast<size_t>(ck.fp8_elements) * 2);
        QCOMPARE(w.fp8_checkpoint_bytes, ck.fp8_bytes);
        QVERIFY(w.dequantized != nullptr);
        QCOMPARE(bf16->weights().fp8_matrices, size_t{0});
        QVERIFY(bf16->weights().dequantized == nullptr);

        // The figures for bandwidth and memory are those of the BF16 model it became.
        QCOMPARE(w.matrix_bytes, bf16->weights().matrix_bytes);
        QCOMPARE(fp8->bytes_read_per_token(), bf16->bytes_read_per_token());
        // In memory the FP8 matrices (and their scales) became BF16 copies: as much as the BF16
        // model holds, not the checkpoint's smaller size.
        QCOMPARE(fp8->weight_bytes(), bf16->weight_bytes());

        const std::vector<int> ids = input_ids();
        QVERIFY(!ids.empty());
        const std::vector<float> a = all_logits(*fp8, ids);
        const std::vector<float> b = all_logits(*bf16, ids);
        const double same = relative_l2(a, b);
        const lc::NpyArray ref = lc::read_npy_f32(kFixture / "ref_logits.npy");
        const double quant = relative_l2(a, ref.data);
        qInfo(
            "block %dx%d: %zu FP8 matrices; logits vs dequantized BF16 model: rel L2 %.3g; vs "
            "F32 reference: rel L2 %.4f",
            br, bc, w.fp8_matrices, same, quant);
        QVERIFY2(same < 1e-6, qPrintable(QString::number(same)));
        // E4M3's 3 mantissa bits leave the weights 2.6% off (relative L2); this random model
        // amplifies that to 9-13% in the logits (some tokens' experts change), 92% of argmaxes
        // kept. Scales shifted by one block row give 43%.
        QVERIFY2(quant < 0.2, qPrintable(QString::number(quant)));
    }

    // info names the FP8 weights and what dequantizing them takes, without allocating it.
    void infoReportsDequantization() {
        const Checkpoint ck = quantize_fixture(16, 16);
        const fs::path dir = root() / "info";
        write_model(dir, ck.config, ck.fp8);
        const QString model = QString::fromStdString(dir.string());
        lc_test::CliResult r = lc_test::run_cli({"info", "--model", model});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        const QString bytes = QString::number(ck.fp8_elements * 2);
        QVERIFY2(r.out.contains("dequantized to BF16 at load: " + bytes.toUtf8() + " bytes"),
                 r.out.constData());
        r = lc_test::run_cli({"info", "--model", model, "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        const json j = json::parse(r.out.toStdString());
        QCOMPARE(j["fp8"]["matrices"].get<size_t>(), ck.dequantized.size());
        QCOMPARE(j["fp8"]["dequantized_bf16_bytes"].get<int64_t>(), ck.fp8_elements * 2);
        QVERIFY(j["fp8"]["weight_block_size"] == json({16, 16}));
    }

    void badCheckpointsAreOneClearError_data() {
        QTest::addColumn<int>("index");
        const std::vector<BadCase> cases = bad_cases();
        for (size_t i = 0; i < cases.size(); ++i)
            QTest::newRow(cases[i].name) << static_cast<int>(i);
    }
    void badCheckpointsAreOneClearError() {
        QFETCH(int, index);
        static const Checkpoint base = quantize_fixture(16, 16);
        const BadCase bad = bad_cases()[static_cast<size_t>(index)];
        json config = base.config;
        std::vector<Tensor> tensors = base.fp8;
        bad.spoil(config, tensors);
        const fs::path dir = root() / ("bad" + std::to_string(index));
        write_model(dir, config, tensors);

        auto check = [&](const std::string& msg) {
            for (const std::string& n : bad.needles)
                QVERIFY2(msg.find(n) != std::string::npos,
                         qPrintable(QString::fromStdString("\"" + msg + "\" lacks \"" + n + "\"")));
        };
        check(error_of([&] { load(dir); }));
        // The CLI: exit status 1 and one line, from info (which checks without allocating).
        lc_test::CliResult r =
            lc_test::run_cli({"info", "--model", QString::fromStdString(dir.string())});
        QVERIFY2(r.code == 1, qPrintable(r.describe()));
        QCOMPARE(r.err.count('\n'), qsizetype{1});
        check(r.err.toStdString());
    }
};

QTEST_GUILESS_MAIN(TestFp8)
#include "test_fp8.moc"
