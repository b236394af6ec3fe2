// The GGUF reader (formats/gguf.h) against files gguf-py (llama.cpp's writer) writes at test time
// and what gguf-py's own reader finds in them (tests/ref/make_test_gguf.py): every metadata value
// type, arrays, tensors of several ggml types, v2 and v3, a split set. Then hostile files, made
// here by editing those bytes: each must be one lc::Error naming the file and what is wrong.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "error_of.h"
#include "formats/gguf.h"

namespace fs = std::filesystem;
using lc::GgufFile;
using lc::GgufValue;
using lc_test::error_of;
using nlohmann::json;

namespace {

const fs::path kData = LC_TEST_DATA_DIR;

std::string read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_bytes(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
}

template <class T>
void put(std::string& bytes, uint64_t pos, T value) {
    std::memcpy(bytes.data() + pos, &value, sizeof value);
}

// Runs tests/ref/make_test_gguf.py in the reference venv; true when it succeeded.
bool run_reference(const QStringList& args) {
    QProcess p;
    p.start(QString::fromStdString((kData / "venv/bin/python").string()),
            QStringList{QString(LC_SOURCE_DIR "/tests/ref/make_test_gguf.py")} + args);
    if (!p.waitForFinished(300000) || p.exitCode() != 0) {
        qWarning("%s", p.readAllStandardError().constData());
        return false;
    }
    return true;
}

GgufValue::Type type_named(const std::string& name) {
    static const std::map<std::string, GgufValue::Type> types = {
        {"UINT8", GgufValue::Type::U8},      {"INT8", GgufValue::Type::I8},
        {"UINT16", GgufValue::Type::U16},    {"INT16", GgufValue::Type::I16},
        {"UINT32", GgufValue::Type::U32},    {"INT32", GgufValue::Type::I32},
        {"FLOAT32", GgufValue::Type::F32},   {"BOOL", GgufValue::Type::Bool},
        {"STRING", GgufValue::Type::String}, {"ARRAY", GgufValue::Type::Array},
        {"UINT64", GgufValue::Type::U64},    {"INT64", GgufValue::Type::I64},
        {"FLOAT64", GgufValue::Type::F64}};
    return types.at(name);
}

// The element `i` of a value (scalar: i == 0) as JSON, for comparing with gguf-py's.
json element(const GgufValue& v, GgufValue::Type type, size_t i) {
    const bool scalar = !v.is_array();
    switch (type) {
        case GgufValue::Type::String:
            return scalar ? std::get<std::string>(v.scalar) : v.strings.at(i);
        case GgufValue::Type::F32:
        case GgufValue::Type::F64:
            return scalar ? std::get<double>(v.scalar) : v.floats.at(i);
        case GgufValue::Type::Bool:
            return (scalar ? std::get<uint64_t>(v.scalar) : v.uints.at(i)) != 0;
        case GgufValue::Type::I8:
        case GgufValue::Type::I16:
        case GgufValue::Type::I32:
        case GgufValue::Type::I64:
            return scalar ? std::get<int64_t>(v.scalar) : v.ints.at(i);
        default:
            return scalar ? std::get<uint64_t>(v.scalar) : v.uints.at(i);
    }
}

// Compares every key and tensor of `f` with what gguf-py read from the same file(s); `files`
// maps a tensor's file name to its bytes. Returns an empty string or what differs.
std::string compare(const GgufFile& f, const json& expected,
                    const std::map<std::string, std::string>& files) {
    for (const auto& [key, e] : expected.at("metadata").items()) {
        const GgufValue* v = f.find(key);
        if (!v) return "key " + key + " is missing";
        if (v->type != type_named(e.at("type"))) return "key " + key + " has another type";
        if (v->is_array()) {
            if (v->element_type != type_named(e.at("element_type")))
                return "key " + key + " has another element type";
            if (v->array_size() != e.at("value").size()) return "key " + key + ": length";
            for (size_t i = 0; i < v->array_size(); ++i)
                if (element(*v, v->element_type, i) != e.at("value").at(i))
                    return "key " + key + " element " + std::to_string(i) + " differs";
        } else if (element(*v, v->type, 0) != e.at("value")) {
            return "key " + key + " differs: " + element(*v, v->type, 0).dump() + " vs " +
                   e.at("value").dump();
        }
    }
    for (const json& t : expected.at("tensors")) {
        const lc::GgufTensor* ours = f.find_tensor(t.at("name").get<std::string>());
        const std::string name = t.at("name");
        if (!ours) return "tensor " + name + " is missing";
        std::vector<int64_t> shape = t.at("ne").get<std::vector<int64_t>>();
        std::reverse(shape.begin(), shape.end());
        if (ours->shape != shape) return "tensor " + name + ": shape";
        if (ours->ggml_type != t.at("ggml_type").get<uint32_t>())
            return "tensor " + name + ": type";
        if (ours->nbytes != t.at("nbytes").get<size_t>()) return "tensor " + name + ": nbytes";
        const std::string& bytes = files.at(fs::path(ours->file).filename().string());
        const size_t at = t.at("file_offset");
        if (std::memcmp(ours->data, bytes.data() + at, ours->nbytes) != 0)
            return "tensor " + name + ": data is not at the file offset gguf-py reads";
    }
    return "";
}

}  // namespace

class TestGguf : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void reads_what_gguf_py_wrote();
    void typed_getters();
    void tensor_types();
    void split_set();
    void split_set_errors();
    void truncated_everywhere();
    void hostile_header_and_metadata();
    void hostile_tensor_infos();
    void not_a_file();

private:
    fs::path dir_;
    json expected_;
    QTemporaryDir tmp_;
    // A copy of all_types_v3.gguf edited by `edit`, opened: the error message (or kNoError).
    std::string edited(const std::function<void(std::string&, const json&)>& edit,
                       const char* file = "all_types_v3.gguf");
};

void TestGguf::initTestCase() {
    if (!fs::exists(kData / "READY"))
        QFAIL(qPrintable("no test data in " + QString::fromStdString(kData.string()) +
                         ": run tools/fetch_test_data.sh (ctest's fetch_test_data fixture)"));
    QVERIFY(tmp_.isValid());
    dir_ = tmp_.path().toStdString();
    QVERIFY(run_reference({"metadata", QString::fromStdString(dir_.string())}));
    expected_ = json::parse(read_bytes(dir_ / "expected.json"));
}

std::string TestGguf::edited(const std::function<void(std::string&, const json&)>& edit,
                             const char* file) {
    std::string bytes = read_bytes(dir_ / file);
    edit(bytes, expected_.at(file));
    const fs::path path = dir_ / "edited.gguf";
    write_bytes(path, bytes);
    return error_of([&] { GgufFile::open(path); });
}

void TestGguf::reads_what_gguf_py_wrote() {
    for (const char* name : {"all_types_v3.gguf", "all_types_v2.gguf"}) {
        const json& e = expected_.at(name);
        const GgufFile f = GgufFile::open(dir_ / name);
        QCOMPARE(f.version(), e.at("version").get<uint32_t>());
        QCOMPARE(f.alignment(), e.at("alignment").get<uint32_t>());
        QCOMPARE(f.metadata().size(), e.at("metadata").size());
        QCOMPARE(f.tensors().size(), e.at("tensors").size());
        const std::string diff = compare(f, e, {{name, read_bytes(dir_ / name)}});
        QVERIFY2(diff.empty(), (std::string(name) + ": " + diff).c_str());
        size_t total = 0;
        for (const json& t : e.at("tensors"))
            total += t.at("nbytes").get<size_t>();
        QCOMPARE(f.tensor_bytes(), total);
        QCOMPARE(f.architecture(), std::string("testarch"));
        QCOMPARE(f.part_count(), size_t{1});
    }
    QCOMPARE(expected_.at("all_types_v2.gguf").at("version").get<int>(), 2);
    QCOMPARE(expected_.at("all_types_v2.gguf").at("alignment").get<int>(), 64);
}

void TestGguf::typed_getters() {
    const GgufFile f = GgufFile::open(dir_ / "all_types_v3.gguf");
    const json& md = expected_.at("all_types_v3.gguf").at("metadata");
    for (const char* key :
         {"test.u8", "test.i8", "test.u16", "test.i16", "test.u32", "test.i32", "test.i64"})
        QCOMPARE(*f.get_int(key), md.at(key).at("value").get<int64_t>());
    // 18e18 does not fit an int64: an error naming the key, not a wrapped number.
    const std::string big = error_of([&] { f.get_int("test.u64"); });
    QVERIFY2(big.find("test.u64") != std::string::npos && big.find("range") != std::string::npos,
             big.c_str());
    QCOMPARE(*f.get_float("test.f32"), md.at("test.f32").at("value").get<double>());
    QCOMPARE(*f.get_float("test.f64"), md.at("test.f64").at("value").get<double>());
    QCOMPARE(*f.get_float("test.i16"), -30000.0);  // integers are numbers too
    QCOMPARE(*f.get_bool("test.bool_true"), true);
    QCOMPARE(*f.get_bool("test.bool_false"), false);
    QCOMPARE(*f.get_string("test.string"), md.at("test.string").at("value").get<std::string>());
    QCOMPARE(f.get_strings("test.arr_string"),
             md.at("test.arr_string").at("value").get<std::vector<std::string>>());
    QCOMPARE(f.get_ints("test.arr_i32"),
             md.at("test.arr_i32").at("value").get<std::vector<int64_t>>());
    QCOMPARE(f.get_ints("test.arr_u16"),
             md.at("test.arr_u16").at("value").get<std::vector<int64_t>>());
    QCOMPARE(f.get_floats("test.arr_f32"),
             md.at("test.arr_f32").at("value").get<std::vector<double>>());
    QVERIFY(!f.get_int("test.absent") && f.get_strings("test.absent").empty());
    // The wrong type is an error naming the key and the file.
    for (const auto& [key, call] : std::vector<std::pair<std::string, std::function<void()>>>{
             {"test.string", [&] { f.get_int("test.string"); }},
             {"test.u8", [&] { f.get_string("test.u8"); }},
             {"test.u8", [&] { f.get_bool("test.u8"); }},
             {"test.arr_string", [&] { f.get_float("test.arr_string"); }},
             {"test.arr_u64", [&] { f.get_ints("test.arr_u64"); }},
             {"test.arr_f32", [&] { f.get_strings("test.arr_f32"); }},
             {"test.arr_string", [&] { f.get_ints("test.arr_string"); }}}) {
        const std::string e = error_of(call);
        QVERIFY2(
            e.find(key) != std::string::npos && e.find("all_types_v3.gguf") != std::string::npos,
            e.c_str());
    }
}

void TestGguf::tensor_types() {
    // ggml's type codes as the DTypes the engine computes with; others keep their code.
    const GgufFile f = GgufFile::open(dir_ / "all_types_v3.gguf");
    const std::map<std::string, lc::DType> want = {
        {"plain.f32", lc::DType::F32},   {"plain.f16", lc::DType::F16},
        {"plain.bf16", lc::DType::BF16}, {"q4_0", lc::DType::Q4_0},
        {"q8_0", lc::DType::Q8_0},       {"q4_k", lc::DType::Q4_K},
        {"q6_k", lc::DType::Q6_K},       {"q5_k", lc::DType::Q5_K},
        {"iq4_nl", lc::DType::Other},    {"ints.i32", lc::DType::Other}};
    for (const auto& [name, dtype] : want) {
        const lc::GgufTensor& t = f.tensor(name);
        QVERIFY2(t.dtype == dtype, name.c_str());
        if (dtype != lc::DType::Other) {  // rows of whole blocks, as dtype.h sizes them
            const int64_t cols = t.shape.back();
            QCOMPARE(static_cast<int64_t>(t.nbytes),
                     lc::dtype_row_bytes(dtype, cols) * (t.numel() / cols));
        }
    }
    QCOMPARE(f.tensor("iq4_nl").ggml_type, 20u);
    QCOMPARE(lc::ggml_type_name(20), std::string("iq4_nl"));
    const std::string missing = error_of([&] { f.tensor("no.such"); });
    QVERIFY2(missing.find("no.such") != std::string::npos, missing.c_str());
}

void TestGguf::split_set() {
    const fs::path split = dir_ / "split";
    for (const char* open_as : {"model-00001-of-00003.gguf", "model-00003-of-00003.gguf"}) {
        const GgufFile f = GgufFile::open(split / open_as);
        QCOMPARE(f.part_count(), size_t{3});
        QCOMPARE(f.path().filename().string(), std::string("model-00001-of-00003.gguf"));
        QCOMPARE(*f.get_string("general.name"), std::string("split test"));  // the first part's
        std::map<std::string, std::string> files;
        size_t tensors = 0;
        for (int k = 1; k <= 3; ++k) {
            const std::string name = "model-0000" + std::to_string(k) + "-of-00003.gguf";
            files[name] = read_bytes(split / name);
            const json& e = expected_.at("split/" + name);
            tensors += e.at("tensors").size();
            json only_tensors = {{"metadata", json::object()}, {"tensors", e.at("tensors")}};
            const std::string diff = compare(f, only_tensors, files);
            QVERIFY2(diff.empty(), (name + ": " + diff).c_str());
        }
        QCOMPARE(f.tensors().size(), tensors);
        QCOMPARE(*f.get_int("split.tensors.count"), static_cast<int64_t>(tensors));
    }
}

void TestGguf::split_set_errors() {
    const fs::path split = dir_ / "split";
    const fs::path bad = dir_ / "badsplit";
    auto fresh = [&] {
        fs::remove_all(bad);
        fs::create_directories(bad);
        for (int k = 1; k <= 3; ++k) {
            const std::string name = "model-0000" + std::to_string(k) + "-of-00003.gguf";
            fs::copy_file(split / name, bad / name);
        }
    };
    auto expect = [](const std::string& e, const std::vector<std::string>& parts) {
        for (const std::string& p : parts)
            QVERIFY2(e.find(p) != std::string::npos, (e + "   [wanted: " + p + "]").c_str());
    };
    fresh();
    fs::remove(bad / "model-00002-of-00003.gguf");
    expect(error_of([&] { GgufFile::open(bad / "model-00001-of-00003.gguf"); }),
           {"model-00002-of-00003.gguf", "missing", "3 parts"});
    // A part whose split.count or split.no disagrees with the names.
    const json& second = expected_.at("split/model-00002-of-00003.gguf");
    for (const auto& [key, value] : {std::pair{"split.count", 4}, {"split.no", 2}}) {
        fresh();
        std::string bytes = read_bytes(bad / "model-00002-of-00003.gguf");
        put<uint16_t>(bytes, second.at("layout").at("keys").at(key).at("value"),
                      static_cast<uint16_t>(value));
        write_bytes(bad / "model-00002-of-00003.gguf", bytes);
        expect(error_of([&] { GgufFile::open(bad / "model-00001-of-00003.gguf"); }),
               {"model-00002-of-00003.gguf", key});
    }
    // The first part under a plain name: the others cannot be found.
    fresh();
    fs::copy_file(split / "model-00001-of-00003.gguf", bad / "renamed.gguf");
    expect(error_of([&] { GgufFile::open(bad / "renamed.gguf"); }),
           {"renamed.gguf", "split.count", "00001-of-0000N"});
    // The same tensor name in the first and the last part.
    fresh();
    std::string bytes = read_bytes(bad / "model-00003-of-00003.gguf");
    const json& third = expected_.at("split/model-00003-of-00003.gguf");
    const uint64_t name_at = third.at("layout").at("tensors").at("s.dupb.f32").at("name_length");
    bytes[name_at + 8 + 5] = 'a';  // "s.dupb.f32" -> "s.dupa.f32"
    write_bytes(bad / "model-00003-of-00003.gguf", bytes);
    expect(error_of([&] { GgufFile::open(bad / "model-00001-of-00003.gguf"); }),
           {"model-00003-of-00003.gguf", "s.dupa.f32", "twice"});
}

void TestGguf::truncated_everywhere() {
    // Cut at every byte of the header and metadata and at many points of the data: one lc::Error
    // each. Past the last tensor's bytes only padding is cut, and the file still opens.
    const std::string full = read_bytes(dir_ / "all_types_v3.gguf");
    const json& e = expected_.at("all_types_v3.gguf");
    uint64_t data_end = 0;
    for (const json& t : e.at("tensors"))
        data_end = std::max(data_end,
                            t.at("file_offset").get<uint64_t>() + t.at("nbytes").get<uint64_t>());
    const fs::path path = dir_ / "cut.gguf";
    int errors = 0;
    for (size_t cut = 0; cut < full.size();
         cut += cut < e.at("data_offset").get<size_t>() ? 1 : 7) {
        write_bytes(path, full.substr(0, cut));
        const std::string err = error_of([&] { GgufFile::open(path); });
        if (cut < data_end) {
            QVERIFY2(err != lc_test::kNoError && err.find("<not an lc::Error") == std::string::npos,
                     ("cut at " + std::to_string(cut) + ": " + err).c_str());
            QVERIFY2(err.find("cut.gguf") != std::string::npos, err.c_str());
            ++errors;
        } else {
            QVERIFY2(err == lc_test::kNoError,
                     ("cut at " + std::to_string(cut) + ": " + err).c_str());
        }
    }
    qInfo("%d truncated copies refused, each with one lc::Error", errors);
}

void TestGguf::hostile_header_and_metadata() {
    struct Case {
        const char* what;
        std::function<void(std::string&, const json&)> edit;
        std::vector<std::string> message;  // each must appear in the error
        const char* file = "all_types_v3.gguf";
    };
    auto key_at = [](const json& e, const char* key, const char* field) -> uint64_t {
        return e.at("layout").at("keys").at(key).at(field);
    };
    const std::vector<Case> cases = {
        {"wrong magic",
         [](std::string& b, const json&) { b[3] = 'X'; },
         {"not a GGUF file", "GGUX"}},
        {"version 1", [](std::string& b, const json&) { put<uint32_t>(b, 4, 1); }, {"version 1"}},
        {"version 4", [](std::string& b, const json&) { put<uint32_t>(b, 4, 4); }, {"version 4"}},
        {"big-endian",
         [](std::string& b, const json&) { put<uint32_t>(b, 4, 0x03000000); },
         {"big-endian"}},
        {"huge tensor count",
         [](std::string& b, const json&) { put<uint64_t>(b, 8, uint64_t(1) << 62); },
         {"tensors", "can hold"}},
        {"huge metadata count",
         [](std::string& b, const json&) { put<uint64_t>(b, 16, uint64_t(1) << 40); },
         {"metadata entries", "can hold"}},
        {"huge key length",
         [&](std::string& b, const json& e) {
             put<uint64_t>(b, key_at(e, "test.u8", "key_length"), uint64_t(1) << 63);
         },
         {"ends inside"}},
        {"huge string length",
         [&](std::string& b, const json& e) {
             put<uint64_t>(b, key_at(e, "test.string", "value"), ~uint64_t(0));
         },
         {"test.string", "ends inside"}},
        {"huge string array",
         [&](std::string& b, const json& e) {
             put<uint64_t>(b, key_at(e, "test.arr_string", "count"), uint64_t(1) << 61);
         },
         {"test.arr_string", "array elements"}},
        {"u8 array longer than the file",
         [&](std::string& b, const json& e) {
             put<uint64_t>(b, key_at(e, "test.arr_u8", "count"), 1000000000);
         },
         {"test.arr_u8", "array elements"}},
        {"unknown value type",
         [&](std::string& b, const json& e) { put<uint32_t>(b, key_at(e, "test.u8", "type"), 13); },
         {"test.u8", "13", "not a GGUF value type"}},
        {"unknown array element type",
         [&](std::string& b, const json& e) {
             put<uint32_t>(b, key_at(e, "test.arr_i8", "element_type"), 99);
         },
         {"test.arr_i8", "99"}},
        {"array of arrays",
         [&](std::string& b, const json& e) {
             put<uint32_t>(b, key_at(e, "test.arr_u8", "element_type"), 9);
         },
         {"test.arr_u8", "array of arrays"}},
        {"duplicate key",
         [&](std::string& b, const json& e) {
             b[key_at(e, "test.i8", "key_length") + 8 + 5] = 'u';
         },
         {"test.u8", "twice"}},
        {"alignment not a power of two",
         [&](std::string& b, const json& e) {
             put<uint32_t>(b, key_at(e, "general.alignment", "value"), 48);
         },
         {"general.alignment", "power of two"},
         "all_types_v2.gguf"},
        {"alignment zero",
         [&](std::string& b, const json& e) {
             put<uint32_t>(b, key_at(e, "general.alignment", "value"), 0);
         },
         {"general.alignment"},
         "all_types_v2.gguf"},
    };
    for (const Case& c : cases) {
        const std::string err = edited(c.edit, c.file);
        QVERIFY2(err.find("edited.gguf") != std::string::npos,
                 (std::string(c.what) + ": " + err).c_str());
        for (const std::string& m : c.message)
            QVERIFY2(err.find(m) != std::string::npos,
                     (std::string(c.what) + ": " + err + "   [wanted: " + m + "]").c_str());
    }
    // gguf-py writes an array of arrays when asked; readers refuse it (llama.cpp does too).
    const std::string nested = error_of([&] { GgufFile::open(dir_ / "nested.gguf"); });
    QVERIFY2(nested.find("test.nested") != std::string::npos &&
                 nested.find("array of arrays") != std::string::npos,
             nested.c_str());
}

void TestGguf::hostile_tensor_infos() {
    struct Case {
        const char* what;
        std::function<void(std::string&, const json&)> edit;
        std::vector<std::string> message;
    };
    auto at = [](const json& e, const char* tensor, const char* field) -> uint64_t {
        return e.at("layout").at("tensors").at(tensor).at(field);
    };
    auto offset_of = [](const json& e, const char* tensor) -> uint64_t {
        for (const json& t : e.at("tensors"))
            if (t.at("name") == tensor)
                return t.at("file_offset").get<uint64_t>() - e.at("data_offset").get<uint64_t>();
        return 0;
    };
    const std::vector<Case> cases = {
        {"5 dimensions",
         [&](std::string& b, const json& e) { put<uint32_t>(b, at(e, "plain.f32", "n_dims"), 5); },
         {"plain.f32", "dimensions"}},
        {"negative dimension",
         [&](std::string& b, const json& e) { put<int64_t>(b, at(e, "plain.f32", "dims"), -3); },
         {"plain.f32", "negative"}},
        {"element count overflows",
         [&](std::string& b, const json& e) {
             put<int64_t>(b, at(e, "experts.f32", "dims"), int64_t(1) << 40);
             put<int64_t>(b, at(e, "experts.f32", "dims") + 8, int64_t(1) << 40);
         },
         {"experts.f32", "64 bits"}},
        {"huge tensor",
         [&](std::string& b, const json& e) {
             put<int64_t>(b, at(e, "plain.f32", "dims") + 8, int64_t(1) << 50);
         },
         {"plain.f32", "past the end"}},
        {"unknown ggml type",
         [&](std::string& b, const json& e) { put<uint32_t>(b, at(e, "plain.f32", "type"), 4); },
         {"plain.f32", "ggml type 4"}},
        {"row not a multiple of the block",
         [&](std::string& b, const json& e) { put<uint32_t>(b, at(e, "plain.f32", "type"), 2); },
         {"plain.f32", "not a multiple of its block of 32"}},
        {"offset past the end",
         [&](std::string& b, const json& e) {
             put<uint64_t>(b, at(e, "ints.i32", "offset"), uint64_t(1) << 40);
         },
         {"ints.i32", "past the end"}},
        {"offset wraps around",
         [&](std::string& b, const json& e) {
             put<uint64_t>(b, at(e, "ints.i32", "offset"), ~uint64_t(31));
         },
         {"ints.i32", "past the end"}},
        {"misaligned offset",
         [&](std::string& b, const json& e) {
             put<uint64_t>(b, at(e, "q8_0", "offset"), offset_of(e, "q8_0") + 4);
         },
         {"q8_0", "alignment"}},
        {"overlapping tensors",
         [&](std::string& b, const json& e) {
             put<uint64_t>(b, at(e, "plain.f16", "offset"), offset_of(e, "plain.f32"));
         },
         {"plain.f32", "plain.f16", "overlap"}},
        {"duplicate name",
         [&](std::string& b, const json& e) {
             std::memcpy(b.data() + at(e, "plain.f16", "name_length") + 8, "plain.f32", 9);
         },
         {"plain.f32", "twice"}},
        {"empty name",
         [&](std::string& b, const json& e) {
             put<uint64_t>(b, at(e, "plain.f32", "name_length"), 0);
         },
         {"empty name"}},
    };
    for (const Case& c : cases) {
        const std::string err = edited(c.edit);
        QVERIFY2(err.find("edited.gguf") != std::string::npos,
                 (std::string(c.what) + ": " + err).c_str());
        for (const std::string& m : c.message)
            QVERIFY2(err.find(m) != std::string::npos,
                     (std::string(c.what) + ": " + err + "   [wanted: " + m + "]").c_str());
    }
}

void TestGguf::not_a_file() {
    const std::string folder = error_of([&] { GgufFile::open(dir_ / "split"); });
    QVERIFY2(folder.find("is a folder") != std::string::npos, folder.c_str());
    const std::string missing = error_of([&] { GgufFile::open(dir_ / "absent.gguf"); });
    QVERIFY2(missing.find("absent.gguf") != std::string::npos &&
                 missing.find("not found") != std::string::npos,
             missing.c_str());
    write_bytes(dir_ / "tiny.gguf", "GG");
    const std::string tiny = error_of([&] { GgufFile::open(dir_ / "tiny.gguf"); });
    QVERIFY2(tiny.find("too short") != std::string::npos, tiny.c_str());
    QVERIFY(lc::is_gguf_path("a/b/model-Q4_K_M.gguf") && lc::is_gguf_path("X.GGUF"));
    QVERIFY(!lc::is_gguf_path("a/model.safetensors") && !lc::is_gguf_path("a/gguf"));
}

QTEST_APPLESS_MAIN(TestGguf)
#include "test_gguf.moc"
