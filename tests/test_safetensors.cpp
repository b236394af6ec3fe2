// Safetensors loading and .npy I/O. Every file is written by the test itself, so each bad
// input is exactly the one named; a bad input must give an lc::Error naming the file, never
// a crash or an out-of-bounds read (run under ASan/valgrind to check the latter).
#include <QTemporaryDir>
#include <QtTest>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "error_of.h"
#include "formats/npy.h"
#include "formats/safetensors.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using lc_test::error_of;

struct Tensor {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    std::string bytes;  // raw little-endian element bytes
};

template <class T>
std::string raw(const std::vector<T>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

void writeBytes(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le64(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i)
        s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
}

// A file with the given header text and data region; `claimedLen` overrides the length field.
void writeRaw(const fs::path& path, const std::string& header, const std::string& data = "",
              std::optional<uint64_t> claimedLen = std::nullopt) {
    writeBytes(path, le64(claimedLen.value_or(header.size())) + header + data);
}

// A well-formed safetensors file: tensors laid out back to back in the given order.
void writeSafetensors(const fs::path& path, const std::vector<Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {}) {
    json header = json::object();
    std::string data;
    for (const auto& t : tensors) {
        header[t.name] = {{"dtype", t.dtype},
                          {"shape", t.shape},
                          {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
        data += t.bytes;
    }
    if (!metadata.empty()) header["__metadata__"] = metadata;
    // Like the reference writer, pad the header with spaces so the data region is 8-aligned.
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    writeRaw(path, text, data);
}

}  // namespace

// Checks `stmt` throws lc::Error whose message contains both `a` and `b`.
#define EXPECT_ERROR(stmt, a, b)                                                               \
    do {                                                                                       \
        const std::string msg_ = error_of([&] { stmt; });                                      \
        const std::string a_ = (a), b_ = (b);                                                  \
        QVERIFY2(msg_.find(a_) != std::string::npos && msg_.find(b_) != std::string::npos,     \
                 ("message \"" + msg_ + "\" lacks \"" + a_ + "\" or \"" + b_ + "\"").c_str()); \
    } while (0)

class TestSafetensors : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    int counter_ = 0;
    fs::path root() const { return fs::path(tmp_.path().toStdString()); }
    // A fresh empty folder per case, so cases never see each other's files.
    fs::path freshDir() {
        fs::path d = root() / ("case" + std::to_string(counter_++));
        fs::create_directories(d);
        return d;
    }
    // A tiny valid two-tensor file, reused by the bad-input cases.
    static std::vector<Tensor> sample() {
        return {{"a.weight", "F32", {2, 2}, raw(std::vector<float>{1, 2, 3, 4})},
                {"b.bias", "BF16", {3}, raw(std::vector<uint16_t>{0x3f80, 0x4000, 0xbf80})}};
    }

private slots:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    void readsValuesShapesAndMetadata() {
        const fs::path file = freshDir() / "model.safetensors";
        const std::vector<float> f32 = {1.0f, -2.5f, 3.14159274f, 1e-30f, -0.0f, 65504.0f};
        // F16 bit patterns: 1, -2, 0.5, largest finite 65504, smallest subnormal 2^-24, 0.
        const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x0000};
        const std::vector<float> f16_want = {1.0f, -2.0f, 0.5f, 65504.0f, 5.9604645e-8f, 0.0f};
        // BF16 values chosen to be exactly representable.
        const std::vector<float> bf_want = {1.0f, -3.5f, 0.15625f, 1024.0f};
        std::vector<uint16_t> bf16;
        for (float v : bf_want)
            bf16.push_back(lc::f32_to_bf16(v));
        writeSafetensors(file,
                         {{"x.f32", "F32", {2, 3}, raw(f32)},
                          {"x.f16", "F16", {6}, raw(f16)},
                          {"x.bf16", "BF16", {2, 1, 2}, raw(bf16)},
                          {"x.scalar", "F32", {}, raw(std::vector<float>{7.0f})},
                          {"x.empty", "BF16", {0, 4}, ""},
                          {"x.ids", "I64", {2}, raw(std::vector<int64_t>{5, 6})},
                          {"x.exotic", "Q4_WEIRD", {3}, std::string(5, '\x11')}},
                         {{"format", "pt"}, {"note", "hello"}});

        const auto a = lc::SafetensorsArchive::open_file(file);
        const auto& t32 = a.get("x.f32");
        QCOMPARE(t32.dtype, lc::DType::F32);
        QCOMPARE(t32.dtype_text, std::string("F32"));
        QCOMPARE(t32.shape, (std::vector<int64_t>{2, 3}));
        QCOMPARE(t32.numel(), int64_t{6});
        QCOMPARE(t32.nbytes, size_t{24});
        QVERIFY(t32.file.find("model.safetensors") != std::string::npos);
        for (size_t i = 0; i < f32.size(); ++i) {
            const float got = lc::load_as_f32(t32.data, t32.dtype, i);
            QVERIFY(std::memcmp(&got, &f32[i], 4) == 0);  // bit-exact, keeps the sign of -0
        }
        const auto& t16 = a.get("x.f16");
        QCOMPARE(t16.dtype, lc::DType::F16);
        for (size_t i = 0; i < f16_want.size(); ++i)
            QCOMPARE(lc::load_as_f32(t16.data, t16.dtype, i), f16_want[i]);
        const auto& tbf = a.get("x.bf16");
        QCOMPARE(tbf.dtype, lc::DType::BF16);
        QCOMPARE(tbf.shape, (std::vector<int64_t>{2, 1, 2}));
        for (size_t i = 0; i < bf_want.size(); ++i)
            QCOMPARE(lc::load_as_f32(tbf.data, tbf.dtype, i), bf_want[i]);

        QCOMPARE(a.get("x.scalar").numel(), int64_t{1});
        QCOMPARE(lc::load_as_f32(a.get("x.scalar").data, lc::DType::F32, 0), 7.0f);
        QCOMPARE(a.get("x.empty").numel(), int64_t{0});
        QCOMPARE(a.get("x.empty").nbytes, size_t{0});
        QCOMPARE(a.get("x.ids").dtype, lc::DType::Other);
        QCOMPARE(a.get("x.ids").dtype_text, std::string("I64"));
        int64_t id1 = 0;
        std::memcpy(&id1, static_cast<const char*>(a.get("x.ids").data) + 8, 8);
        QCOMPARE(id1, int64_t{6});
        // An unknown dtype is kept, its size unchecked.
        QCOMPARE(a.get("x.exotic").dtype_text, std::string("Q4_WEIRD"));
        QCOMPARE(a.get("x.exotic").nbytes, size_t{5});

        QCOMPARE(a.names(), (std::vector<std::string>{"x.bf16", "x.empty", "x.exotic", "x.f16",
                                                      "x.f32", "x.ids", "x.scalar"}));
        QCOMPARE(a.tensor_bytes(), size_t{24 + 12 + 8 + 4 + 0 + 16 + 5});
        QCOMPARE(a.metadata().at("format"), std::string("pt"));
        QCOMPARE(a.metadata().at("note"), std::string("hello"));
        QVERIFY(a.find("nope") == nullptr);
        EXPECT_ERROR(a.get("nope"), "tensor 'nope' is missing", "model.safetensors");
    }

    void unalignedDataIsAccepted() {
        // A 3-element BF16 first puts the F32 tensor at data offset 6: not 4-byte aligned.
        const fs::path file = freshDir() / "model.safetensors";
        writeSafetensors(file, {{"a", "BF16", {3}, raw(std::vector<uint16_t>{1, 2, 3})},
                                {"b", "F32", {1}, raw(std::vector<float>{42.0f})}});
        const auto a = lc::SafetensorsArchive::open_file(file);
        float v = 0;
        std::memcpy(&v, a.get("b").data, 4);
        QCOMPARE(v, 42.0f);
    }

    void openDirSingleAndUnindexed() {
        const fs::path d1 = freshDir();
        writeSafetensors(d1 / "model.safetensors", sample());
        writeSafetensors(d1 / "ignored.safetensors",
                         {{"z", "F32", {1}, raw(std::vector<float>{0})}});
        const auto a1 = lc::SafetensorsArchive::open_dir(d1);
        QCOMPARE(a1.names(), (std::vector<std::string>{"a.weight", "b.bias"}));
        EXPECT_ERROR(a1.get("z"), "tensor 'z' is missing", d1.string());

        // No index and no model.safetensors: every *.safetensors file, in name order.
        const fs::path d2 = freshDir();
        writeSafetensors(d2 / "part-b.safetensors",
                         {{"y", "F32", {1}, raw(std::vector<float>{2})}});
        writeSafetensors(d2 / "part-a.safetensors",
                         {{"x", "F32", {1}, raw(std::vector<float>{1})}});
        writeBytes(d2 / "notes.txt", "not a tensor file");
        const auto a2 = lc::SafetensorsArchive::open_dir(d2);
        QCOMPARE(a2.names(), (std::vector<std::string>{"x", "y"}));
        QVERIFY(a2.get("x").file.find("part-a.safetensors") != std::string::npos);
        QVERIFY(a2.get("y").file.find("part-b.safetensors") != std::string::npos);
    }

    void shardedWithIndex() {
        const fs::path d = freshDir();
        const std::string s1 = "model-00001-of-00002.safetensors";
        const std::string s2 = "model-00002-of-00002.safetensors";
        writeSafetensors(
            d / s1, {{"embed", "BF16", {2, 2}, raw(std::vector<uint16_t>{0x3f80, 0, 0, 0x3f80})}},
            {{"format", "pt"}});
        writeSafetensors(d / s2, {{"head", "F32", {2}, raw(std::vector<float>{0.5f, -1.0f})},
                                  {"norm", "F16", {1}, raw(std::vector<uint16_t>{0x3c00})}});
        json index = {{"metadata", {{"total_size", 16}}},
                      {"weight_map", {{"embed", s1}, {"head", s2}, {"norm", s2}}}};
        writeBytes(d / "model.safetensors.index.json", index.dump(2));
        // A stray file not in the index must not be loaded.
        writeSafetensors(d / "stray.safetensors",
                         {{"embed", "F32", {1}, raw(std::vector<float>{9})}});

        const auto a = lc::SafetensorsArchive::open_dir(d);
        QCOMPARE(a.names(), (std::vector<std::string>{"embed", "head", "norm"}));
        QVERIFY(a.get("embed").file.find(s1) != std::string::npos);
        QVERIFY(a.get("head").file.find(s2) != std::string::npos);
        QCOMPARE(lc::load_as_f32(a.get("embed").data, lc::DType::BF16, 3), 1.0f);
        QCOMPARE(lc::load_as_f32(a.get("head").data, lc::DType::F32, 1), -1.0f);
        QCOMPARE(lc::load_as_f32(a.get("norm").data, lc::DType::F16, 0), 1.0f);
        QCOMPARE(a.metadata().at("format"), std::string("pt"));
        QCOMPARE(a.tensor_bytes(), size_t{8 + 8 + 2});
    }

    void badFoldersAndFiles() {
        const fs::path missing = root() / "no-such-folder";
        EXPECT_ERROR(lc::SafetensorsArchive::open_dir(missing), "no-such-folder", "does not exist");
        const fs::path empty = freshDir();
        EXPECT_ERROR(lc::SafetensorsArchive::open_dir(empty), "no .safetensors files in",
                     empty.string());
        const fs::path plain = freshDir() / "plain.bin";
        writeBytes(plain, "x");
        EXPECT_ERROR(lc::SafetensorsArchive::open_dir(plain), "plain.bin", "not a folder");
        EXPECT_ERROR(lc::SafetensorsArchive::open_file(freshDir() / "gone.safetensors"),
                     "gone.safetensors", "not found");
        const fs::path dirAsFile = freshDir() / "dir.safetensors";
        fs::create_directories(dirAsFile);
        EXPECT_ERROR(lc::SafetensorsArchive::open_file(dirAsFile), "dir.safetensors", "folder");
        const fs::path zero = freshDir() / "zero.safetensors";
        writeBytes(zero, "");
        EXPECT_ERROR(lc::SafetensorsArchive::open_file(zero), "zero.safetensors", "empty");
        EXPECT_ERROR(lc::MappedFile m(zero), "zero.safetensors", "empty");
    }

    void badHeaders() {
        const fs::path d = freshDir();
        int n = 0;
        // Writes `bytes` to a new file and expects opening it to fail mentioning `phrase`.
        auto check = [&](const std::string& bytes, const std::string& phrase) {
            const std::string name = "bad" + std::to_string(n++) + ".safetensors";
            writeBytes(d / name, bytes);
            EXPECT_ERROR(lc::SafetensorsArchive::open_file(d / name), name, phrase);
        };
        auto hdr = [](const std::string& h, const std::string& data = "") {
            return le64(h.size()) + h + data;
        };
        const std::string f4(4, '\0');

        check("abc", "too short");
        check(le64(100) + "{}", "truncated");
        check(le64(~uint64_t{0}) + "{}", "truncated");  // length + 8 would overflow
        check(hdr("{\"a\": {\"dtype\": \"F32\""), "not valid JSON");
        check(hdr("[1, 2]"), "not a JSON object");
        check(hdr(""), "not valid JSON");
        check(hdr("{\"a\": 5}"), "not described by a JSON object");
        check(hdr(R"({"a": {"shape": [1], "data_offsets": [0, 4]}})", f4), "'dtype'");
        check(hdr(R"({"a": {"dtype": 7, "shape": [1], "data_offsets": [0, 4]}})", f4), "'dtype'");
        check(hdr(R"({"a": {"dtype": "F32", "data_offsets": [0, 4]}})", f4), "'shape'");
        check(hdr(R"({"a": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}})", f4), "'shape'");
        check(hdr(R"({"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", f4),
              "not an integer");
        check(hdr(R"({"a": {"dtype": "F32", "shape": ["1"], "data_offsets": [0, 4]}})", f4),
              "not an integer");
        check(hdr(R"({"a": {"dtype": "F32", "shape": [1]}})", f4), "data_offsets");
        check(hdr(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", f4),
              "data_offsets");
        check(hdr(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})", f4),
              "data_offsets");
        check(hdr(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 4]}})", f4),
              "data_offsets");
        check(hdr(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4.0]}})", f4),
              "data_offsets");
        // Offsets past the end of the file, including ones that overflow when added.
        check(hdr(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", f4),
              "header points past the end of the file (tensor 'a' ends at byte");
        check(
            hdr(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [18446744073709551612, 18446744073709551615]}})",
                f4),
            "header points past the end of the file");
        check(
            hdr(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [9223372036854775804, 9223372036854775807]}})",
                f4),
            "header points past the end of the file");
        check(hdr(R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 8]}})", f4),
              "header points past the end of the file");
        check(hdr(R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}})", f4),
              "begin 4 is after its end 0");
        check(
            hdr(R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [18446744073709551615, 0]}})",
                f4),
            "is after its end");
        // Size vs shape * dtype.
        check(hdr(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", f4),
              "needs 8");
        check(hdr(R"({"a": {"dtype": "BF16", "shape": [1, 1], "data_offsets": [0, 4]}})", f4),
              "needs 2");
        check(hdr(R"({"a": {"dtype": "I64", "shape": [1], "data_offsets": [0, 4]}})", f4),
              "needs 8");
        // Negative and overflowing dimensions.
        check(hdr(R"({"a": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 4]}})", f4),
              "negative dimension");
        check(
            hdr(R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})",
                f4),
            "too large");
        check(
            hdr(R"({"a": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 4]}})",
                f4),
            "too large");
        // numel fits in int64 but numel * 4 bytes does not.
        check(
            hdr(R"({"a": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 4]}})",
                f4),
            "needs more");
        check(hdr(R"({"a": {"dtype": "Q9", "shape": [-3], "data_offsets": [0, 4]}})", f4),
              "negative dimension");
        // Unknown dtypes skip the size check but not the bounds check.
        check(hdr(R"({"a": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 5]}})", f4),
              "header points past the end of the file");
        // Duplicate names in one header, and a bad metadata map.
        check(
            hdr(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                f4),
            "tensor 'a' twice");
        check(hdr(R"({"__metadata__": {"k": 1}})"), "metadata value 'k'");
        check(hdr(R"({"__metadata__": [1]})"), "'__metadata__'");
    }

    void badShards() {
        // The same tensor in two files of an unindexed folder.
        const fs::path d1 = freshDir();
        writeSafetensors(d1 / "one.safetensors", sample());
        writeSafetensors(d1 / "two.safetensors",
                         {{"b.bias", "F32", {1}, raw(std::vector<float>{0})}});
        EXPECT_ERROR(lc::SafetensorsArchive::open_dir(d1), "tensor 'b.bias' appears in both",
                     "two.safetensors");

        // Also when both shards are named by an index.
        const fs::path d2 = freshDir();
        writeSafetensors(d2 / "s1.safetensors", sample());
        writeSafetensors(d2 / "s2.safetensors",
                         {{"a.weight", "F32", {1}, raw(std::vector<float>{0})}});
        json idx = {{"weight_map", {{"a.weight", "s1.safetensors"}, {"b.bias", "s2.safetensors"}}}};
        writeBytes(d2 / "model.safetensors.index.json", idx.dump());
        EXPECT_ERROR(lc::SafetensorsArchive::open_dir(d2), "tensor 'a.weight' appears in both",
                     "s1.safetensors");

        // The index names a shard that is not there.
        const fs::path d3 = freshDir();
        writeSafetensors(d3 / "s1.safetensors", sample());
        idx = {{"weight_map", {{"a.weight", "s1.safetensors"}, {"b.bias", "s9.safetensors"}}}};
        writeBytes(d3 / "model.safetensors.index.json", idx.dump());
        EXPECT_ERROR(lc::SafetensorsArchive::open_dir(d3), "s9.safetensors", "does not exist");

        // The index names a tensor its shard does not hold.
        const fs::path d4 = freshDir();
        writeSafetensors(d4 / "s1.safetensors", sample());
        idx = {{"weight_map", {{"a.weight", "s1.safetensors"}, {"c.missing", "s1.safetensors"}}}};
        writeBytes(d4 / "model.safetensors.index.json", idx.dump());
        EXPECT_ERROR(lc::SafetensorsArchive::open_dir(d4), "tensor 'c.missing'",
                     "s1.safetensors does not contain it");

        // The index puts a tensor in the wrong (existing) shard.
        const fs::path d5 = freshDir();
        writeSafetensors(d5 / "s1.safetensors", sample());
        writeSafetensors(d5 / "s2.safetensors", {{"c", "F32", {1}, raw(std::vector<float>{0})}});
        idx = {{"weight_map", {{"a.weight", "s2.safetensors"}, {"c", "s2.safetensors"}}}};
        writeBytes(d5 / "model.safetensors.index.json", idx.dump());
        EXPECT_ERROR(lc::SafetensorsArchive::open_dir(d5), "tensor 'a.weight'",
                     "s2.safetensors does not contain it");

        // Malformed index files, and a shard path that leaves the folder.
        const fs::path d6 = freshDir();
        const std::string iname = "model.safetensors.index.json";
        writeBytes(d6 / iname, "{\"weight_map\": ");
        EXPECT_ERROR(lc::SafetensorsArchive::open_dir(d6), iname, "not valid JSON");
        writeBytes(d6 / iname, "{\"weight_map\": []}");
        EXPECT_ERROR(lc::SafetensorsArchive::open_dir(d6), iname, "'weight_map'");
        writeBytes(d6 / iname, "{\"weight_map\": {\"a\": 3}}");
        EXPECT_ERROR(lc::SafetensorsArchive::open_dir(d6), iname, "not a string");
        writeBytes(d6 / iname, "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
        EXPECT_ERROR(lc::SafetensorsArchive::open_dir(d6), iname, "inside the checkpoint folder");

        // A bad shard is reported by its own name.
        const fs::path d7 = freshDir();
        writeRaw(d7 / "s1.safetensors", "{\"a\": 1}");
        idx = {{"weight_map", {{"a", "s1.safetensors"}}}};
        writeBytes(d7 / iname, idx.dump());
        EXPECT_ERROR(lc::SafetensorsArchive::open_dir(d7), "s1.safetensors", "tensor 'a'");
    }

    // Every prefix of a valid file, and single-byte corruptions of its header, must load or
    // throw lc::Error: never crash (with ASan this also proves no out-of-bounds read).
    void truncationsAndCorruptionsNeverCrash() {
        const fs::path d = freshDir();
        writeSafetensors(d / "full.safetensors", sample(), {{"format", "pt"}});
        std::ifstream in(d / "full.safetensors", std::ios::binary);
        const std::string full((std::istreambuf_iterator<char>(in)), {});
        const fs::path f = d / "cut.safetensors";
        for (size_t len = 0; len < full.size(); ++len) {
            writeBytes(f, full.substr(0, len));
            const std::string msg = error_of([&] { lc::SafetensorsArchive::open_file(f); });
            QVERIFY2(msg.find("cut.safetensors") != std::string::npos, msg.c_str());
        }
        uint64_t header_len = 0;
        std::memcpy(&header_len, full.data(), 8);                       // little-endian host
        const size_t header_end = 8 + static_cast<size_t>(header_len);  // only the header bytes
        const char replacements[] = {'\0', '9', '-', '"', '}', '[', '\xff'};
        for (size_t pos = 0; pos < header_end; ++pos) {
            for (char c : replacements) {
                std::string bad = full;
                bad[pos] = c;
                writeBytes(f, bad);
                const std::string msg = error_of([&] { lc::SafetensorsArchive::open_file(f); });
                QVERIFY2(
                    msg == lc_test::kNoError || msg.find("cut.safetensors") != std::string::npos,
                    msg.c_str());
            }
        }
    }

    void npyRoundTrip() {
        const fs::path d = freshDir();
        const std::vector<std::vector<int64_t>> shapes = {{2, 3}, {5}, {}, {0, 3}, {1, 2, 2, 1}};
        for (const auto& shape : shapes) {
            int64_t n = 1;
            for (int64_t s : shape)
                n *= s;
            std::vector<float> v(static_cast<size_t>(n));
            for (size_t i = 0; i < v.size(); ++i)
                v[i] = 0.25f * static_cast<float>(i) - 1.0f;
            const fs::path p = d / "arr.npy";
            lc::write_npy_f32(p, v.data(), shape);
            QVERIFY(!fs::exists(d / "arr.npy.tmp"));

            std::ifstream in(p, std::ios::binary);
            const std::string bytes((std::istreambuf_iterator<char>(in)), {});
            QCOMPARE(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
            const size_t hlen =
                static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
            QCOMPARE((10 + hlen) % 64, size_t{0});
            QCOMPARE(bytes[10 + hlen - 1], '\n');
            QCOMPARE(bytes.size(), 10 + hlen + 4 * v.size());
            QVERIFY(bytes.find("'descr': '<f4', 'fortran_order': False") != std::string::npos);

            const lc::NpyArray back = lc::read_npy_f32(p);
            QCOMPARE(back.shape, shape);
            QCOMPARE(back.data, v);
        }
        // Python's spelling of a 1-d shape has a trailing comma.
        lc::write_npy_f32(d / "one.npy", std::vector<float>{1, 2, 3}.data(), {3});
        std::ifstream in(d / "one.npy", std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), {});
        QVERIFY(bytes.find("'shape': (3,), }") != std::string::npos);
        EXPECT_ERROR(lc::write_npy_f32(d / "neg.npy", nullptr, {-1}), "neg.npy", "shape");
        EXPECT_ERROR(lc::write_npy_f32(d / "nodir" / "x.npy", std::vector<float>{1}.data(), {1}),
                     "x.npy", "cannot be written");
    }

    void npyReadsOtherFormsAndRejectsBadFiles() {
        const fs::path d = freshDir();
        // A hand-made .npy: version byte, header dict (padded by us), then data.
        auto npy = [](int version, const std::string& dict, const std::string& data) {
            std::string h = dict;
            const size_t prefix = version == 1 ? 10 : 12;
            while ((prefix + h.size() + 1) % 64 != 0)
                h += ' ';
            h += '\n';
            std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(version) + '\0';
            for (size_t b = 0; b < prefix - 8; ++b)
                out += static_cast<char>((h.size() >> (8 * b)) & 0xff);
            return out + h + data;
        };
        writeBytes(d / "f8.npy", npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                                     raw(std::vector<double>{1.5, -2.0})));
        auto a = lc::read_npy_f32(d / "f8.npy");
        QCOMPARE(a.shape, (std::vector<int64_t>{2}));
        QCOMPARE(a.data, (std::vector<float>{1.5f, -2.0f}));
        writeBytes(d / "f2v2.npy",
                   npy(2, "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 2), }",
                       raw(std::vector<uint16_t>{0x3c00, 0xc000})));
        a = lc::read_npy_f32(d / "f2v2.npy");
        QCOMPARE(a.shape, (std::vector<int64_t>{1, 2}));
        QCOMPARE(a.data, (std::vector<float>{1.0f, -2.0f}));
        // Key order is free in the format.
        writeBytes(d / "order.npy",
                   npy(1, "{'shape': (1,), 'fortran_order': False, 'descr': '<f4'}",
                       raw(std::vector<float>{3.0f})));
        QCOMPARE(lc::read_npy_f32(d / "order.npy").data, std::vector<float>{3.0f});

        int n = 0;
        auto check = [&](const std::string& bytes, const std::string& phrase) {
            const std::string name = "bad" + std::to_string(n++) + ".npy";
            writeBytes(d / name, bytes);
            EXPECT_ERROR(lc::read_npy_f32(d / name), name, phrase);
        };
        const std::string f4x2 = raw(std::vector<float>{1, 2});
        const std::string good =
            npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4x2);
        check(good.substr(0, good.size() - 1), "truncated");
        check(good.substr(0, 20), "truncated");
        check(good.substr(0, 8), "truncated");
        check(good + "xx", "unexpected bytes");
        check("hello world, not numpy", "magic");
        check(npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", f4x2), "'>f4'");
        check(npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", f4x2), "'<i4'");
        check(npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", f4x2), "Fortran");
        check(npy(1, "{'descr': '<f4', 'fortran_order': False}", f4x2), "lacks");
        check(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", f4x2), "shape");
        check(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                  f4x2),
              "too large");
        check(
            npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
                f4x2),
            "too large");
        check(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", f4x2),
              "'x'");
        check(npy(1, "{'descr': '<f4", f4x2), "unterminated");
        check(npy(9, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4x2),
              "version 9");
        EXPECT_ERROR(lc::read_npy_f32(d / "absent.npy"), "absent.npy", "not found");
        // Every prefix of a valid file is an error, never a crash.
        for (size_t len = 0; len < good.size(); ++len) {
            writeBytes(d / "cut.npy", good.substr(0, len));
            const std::string msg = error_of([&] { lc::read_npy_f32(d / "cut.npy"); });
            QVERIFY2(msg.find("cut.npy") != std::string::npos, msg.c_str());
        }
    }
};

QTEST_APPLESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
