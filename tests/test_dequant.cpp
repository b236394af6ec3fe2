// formats/dequant.h against gguf-py's gguf.quants.dequantize (tests/ref/dequant_gguf.py in the
// venv of tools/fetch_test_data.sh), bit for bit, for every DType: random blocks with scales of
// the magnitude real files have, blocks whose quant bytes all hold one value (each of the 256),
// and blocks with edge-case f16 scales (zeros, subnormals, the largest f16, infinities, quiet and
// signalling NaNs); every f16 and bf16 bit pattern; random f32 bits. Also rows read from an odd
// address with a padded stride, and the errors for a type we do not read and a cut block.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/quant_blocks.h"
#include "error_of.h"
#include "formats/dequant.h"

namespace fs = std::filesystem;
using lc::DType;
using lc_test::error_of;

namespace {

const fs::path kData = LC_TEST_DATA_DIR;
constexpr int kRows = 16;  // every tensor below is 16 rows of whole blocks

struct TypeCase {
    DType type;
    std::vector<size_t> f16_offsets;  // byte offsets of the block's f16 scale fields
};

const std::vector<TypeCase>& type_cases() {
    using namespace lc::quant;
    static const std::vector<TypeCase> cases = {
        {DType::F32, {}},
        {DType::F16, {}},
        {DType::BF16, {}},
        {DType::Q4_0, {offsetof(BlockQ4_0, d)}},
        {DType::Q4_1, {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)}},
        {DType::Q5_0, {offsetof(BlockQ5_0, d)}},
        {DType::Q5_1, {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)}},
        {DType::Q8_0, {offsetof(BlockQ8_0, d)}},
        {DType::Q2_K, {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)}},
        {DType::Q3_K, {offsetof(BlockQ3_K, d)}},
        {DType::Q4_K, {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)}},
        {DType::Q5_K, {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)}},
        {DType::Q6_K, {offsetof(BlockQ6_K, d)}},
    };
    return cases;
}

// f16 bit patterns at the edges: signed zeros, subnormals (smallest, middle, largest), the
// smallest normal, +-1, the largest f16, infinities, quiet NaNs, signalling NaNs with payloads.
const uint16_t kEdgeF16[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x0200, 0x03ff, 0x83ff,
                             0x0400, 0x3c00, 0xbc00, 0x7bff, 0xfbff, 0x7c00, 0xfc00,
                             0x7e00, 0xfe00, 0x7c01, 0xfd55, 0x7fff};

// A scale of the magnitude quantizers write: |d| in [2^-14, 2^6), either sign.
uint16_t sensible_f16(std::mt19937& rng) {
    const uint32_t sign = rng() & 1u, exponent = 1 + rng() % 20, mantissa = rng() & 0x3ffu;
    return static_cast<uint16_t>((sign << 15) | (exponent << 10) | mantissa);
}

void put_f16(uint8_t* block, size_t offset, uint16_t bits) {
    std::memcpy(block + offset, &bits, 2);
}

// The tensor's bytes, kRows rows of whole blocks.
std::vector<uint8_t> make_tensor(const TypeCase& c, std::mt19937& rng) {
    std::vector<uint8_t> bytes;
    if (c.type == DType::F16 || c.type == DType::BF16) {  // all 65536 patterns
        for (uint32_t v = 0; v < 65536; ++v) {
            const auto h = static_cast<uint16_t>(v);
            bytes.insert(bytes.end(), reinterpret_cast<const uint8_t*>(&h),
                         reinterpret_cast<const uint8_t*>(&h) + 2);
        }
        return bytes;
    }
    if (c.type == DType::F32) {  // random bits: NaNs, infinities and subnormals included
        bytes.resize(kRows * 1024 * 4);
        for (auto& b : bytes)
            b = static_cast<uint8_t>(rng());
        return bytes;
    }
    const size_t block_bytes = static_cast<size_t>(lc::dtype_block_bytes(c.type));
    std::vector<std::vector<uint8_t>> blocks;
    auto random_block = [&] {
        std::vector<uint8_t> b(block_bytes);
        for (auto& x : b)
            x = static_cast<uint8_t>(rng());
        for (size_t off : c.f16_offsets)
            put_f16(b.data(), off, sensible_f16(rng));
        return b;
    };
    for (int v = 0; v < 256; ++v) {  // every byte value in every quant and scale byte
        auto b = random_block();
        std::vector<uint8_t> keep(b);
        std::fill(b.begin(), b.end(), static_cast<uint8_t>(v));
        for (size_t off : c.f16_offsets)
            std::memcpy(b.data() + off, keep.data() + off, 2);
        blocks.push_back(b);
    }
    for (uint16_t edge : kEdgeF16) {  // each f16 field alone at the edge, then all of them
        for (size_t off : c.f16_offsets) {
            auto b = random_block();
            put_f16(b.data(), off, edge);
            blocks.push_back(b);
        }
        auto b = random_block();
        for (size_t off : c.f16_offsets)
            put_f16(b.data(), off, edge);
        blocks.push_back(b);
    }
    while (blocks.size() < 2048)
        blocks.push_back(random_block());
    for (const auto& b : blocks)
        bytes.insert(bytes.end(), b.begin(), b.end());
    return bytes;
}

std::vector<uint8_t> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// "" when a and b hold the same bits; else where they first differ.
QString first_difference(const std::vector<float>& ours, const std::vector<uint8_t>& theirs,
                         DType t) {
    if (theirs.size() != ours.size() * 4)
        return QString("gguf-py gave %1 floats, we %2").arg(theirs.size() / 4).arg(ours.size());
    if (std::memcmp(ours.data(), theirs.data(), theirs.size()) == 0) return {};
    for (size_t i = 0; i < ours.size(); ++i) {
        uint32_t a, b;
        std::memcpy(&a, &ours[i], 4);
        std::memcpy(&b, theirs.data() + 4 * i, 4);
        if (a == b) continue;
        float fb;
        std::memcpy(&fb, &b, 4);
        return QString("%1 weight %2 (block %3): ours %4 (0x%5), gguf-py %6 (0x%7)")
            .arg(lc::dtype_name(t))
            .arg(i)
            .arg(static_cast<qint64>(i) / lc::dtype_block_elems(t))
            .arg(static_cast<double>(ours[i]), 0, 'g', 9)
            .arg(a, 8, 16, QChar('0'))
            .arg(static_cast<double>(fb), 0, 'g', 9)
            .arg(b, 8, 16, QChar('0'));
    }
    return {};
}

}  // namespace

class TestDequant : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    std::map<DType, std::vector<uint8_t>> tensors_;
    QString reference_problem_;  // why gguf-py's results are missing; empty when they are there

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        std::mt19937 rng(20240618);
        QStringList names;
        for (const auto& c : type_cases()) {
            tensors_[c.type] = make_tensor(c, rng);
            const auto& bytes = tensors_[c.type];
            std::ofstream(fs::path(tmp_.path().toStdString()) /
                              (std::string(lc::dtype_name(c.type)) + ".bin"),
                          std::ios::binary)
                .write(reinterpret_cast<const char*>(bytes.data()),
                       static_cast<std::streamsize>(bytes.size()));
            names << lc::dtype_name(c.type);
        }
        if (!fs::exists(kData / "READY")) {
            reference_problem_ = "no test data in " + QString::fromStdString(kData.string()) +
                                 ": run tools/fetch_test_data.sh " +
                                 QString::fromStdString(kData.string()) +
                                 " (ctest's fetch_test_data fixture does it)";
            return;
        }
        QProcess p;
        p.start(QString::fromStdString((kData / "venv/bin/python").string()),
                QStringList{LC_SOURCE_DIR "/tests/ref/dequant_gguf.py", tmp_.path(),
                            QString::number(kRows)} +
                    names);
        if (!p.waitForFinished(300000) || p.exitCode() != 0)
            reference_problem_ =
                "tests/ref/dequant_gguf.py failed: " + QString::fromUtf8(p.readAllStandardError());
    }

    void matchesGgufPy_data() {
        QTest::addColumn<int>("type");
        for (const auto& c : type_cases())
            QTest::newRow(lc::dtype_name(c.type)) << static_cast<int>(c.type);
    }

    // Row by row from the tensor as written, then all rows at once from an odd address with
    // padding between rows: both equal gguf-py's values bit for bit.
    void matchesGgufPy() {
        QFETCH(int, type);
        const auto t = static_cast<DType>(type);
        if (!reference_problem_.isEmpty()) {
            const char* require = std::getenv("LATENTCHAT_REQUIRE_TEST_TOOLS");
            if (require && std::string(require) == "1") QFAIL(qPrintable(reference_problem_));
            QSKIP(qPrintable(reference_problem_));
        }
        const auto& bytes = tensors_.at(t);
        const auto reference = read_file(fs::path(tmp_.path().toStdString()) /
                                         (std::string(lc::dtype_name(t)) + ".f32"));
        const int64_t row_bytes = static_cast<int64_t>(bytes.size()) / kRows;
        const int64_t cols = row_bytes / lc::dtype_block_bytes(t) * lc::dtype_block_elems(t);
        QCOMPARE(lc::dtype_row_bytes(t, cols), row_bytes);

        std::vector<float> by_row(static_cast<size_t>(kRows * cols));
        for (int r = 0; r < kRows; ++r)
            lc::dequantize_row(t, bytes.data() + r * row_bytes, cols, by_row.data() + r * cols);
        const QString row_diff = first_difference(by_row, reference, t);
        QVERIFY2(row_diff.isEmpty(), qPrintable(row_diff));

        const int64_t stride = row_bytes + 3;
        std::vector<uint8_t> padded(static_cast<size_t>(1 + kRows * stride), 0xA5);
        for (int r = 0; r < kRows; ++r)
            std::memcpy(padded.data() + 1 + r * stride, bytes.data() + r * row_bytes,
                        static_cast<size_t>(row_bytes));
        std::vector<float> all(by_row.size(), -1.0f);
        lc::dequantize_rows(t, padded.data() + 1, kRows, cols, stride, all.data());
        const QString rows_diff = first_difference(all, reference, t);
        QVERIFY2(rows_diff.isEmpty(), qPrintable(rows_diff));

        qInfo("%s: %lld blocks, %lld weights bit-exact with gguf-py", lc::dtype_name(t),
              static_cast<long long>(kRows * cols / lc::dtype_block_elems(t)),
              static_cast<long long>(kRows * cols));
    }

    void rejectsTypesItDoesNotRead() {
        const uint8_t bytes[64] = {};
        float out[32];
        const std::string other =
            error_of([&] { lc::dequantize_row(DType::Other, bytes, 16, out); });
        QVERIFY2(other.find("type other") != std::string::npos, other.c_str());
        QVERIFY2(other.find("Q4_K") != std::string::npos, other.c_str());  // names what it reads
        const std::string unknown =
            error_of([&] { lc::dequantize_row(static_cast<DType>(77), bytes, 16, out); });
        QVERIFY2(unknown.find("unknown type 77") != std::string::npos, unknown.c_str());
    }

    void rejectsACutBlock() {
        const uint8_t bytes[256] = {};
        float out[256];
        const std::string cut = error_of([&] { lc::dequantize_row(DType::Q4_K, bytes, 100, out); });
        QVERIFY2(cut.find("100 weights of type Q4_K") != std::string::npos, cut.c_str());
        QVERIFY2(cut.find("256") != std::string::npos, cut.c_str());
        const std::string negative =
            error_of([&] { lc::dequantize_row(DType::Q8_0, bytes, -32, out); });
        QVERIFY2(negative.find("-32 weights of type Q8_0") != std::string::npos, negative.c_str());
        QCOMPARE(error_of([&] { lc::dequantize_row(DType::Q8_0, bytes, 0, out); }),
                 lc_test::kNoError);
    }
};

QTEST_GUILESS_MAIN(TestDequant)
#include "test_dequant.moc"
