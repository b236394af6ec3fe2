// NumPy .npy files (format spec: numpy.lib.format). Only what the tools exchange with us:
// little-endian float arrays in C order.
#include "formats/npy.h"

#include <bit>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "base/dtype.h"
#include "base/error.h"

namespace lc {

namespace fs = std::filesystem;

// Data is written and read as raw host bytes; '<' in the descriptor means little-endian.
static_assert(std::endian::native == std::endian::little, "npy I/O assumes a little-endian host");

namespace {

constexpr char kMagic[] = "\x93NUMPY";  // 6 bytes + NUL
constexpr size_t kMagicLen = 6;

// Product of dims, or -1 when a dim is negative or the product overflows int64.
int64_t checked_numel(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0 || __builtin_mul_overflow(n, d, &n)) return -1;
    }
    return n;
}

// Tiny parser for the Python dict literal in the header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
public:
    HeaderParser(std::string_view text, const std::string& file) : s_(text), file_(file) {}

    void parse(std::string& descr, bool& fortran, std::vector<int64_t>& shape) {
        bool have_descr = false, have_fortran = false, have_shape = false;
        expect('{');
        while (true) {
            skip_ws();
            if (peek() == '}') break;
            std::string key = string_lit();
            expect(':');
            skip_ws();
            if (key == "descr") {
                descr = string_lit();
                have_descr = true;
            } else if (key == "fortran_order") {
                fortran = bool_lit();
                have_fortran = true;
            } else if (key == "shape") {
                shape = tuple_lit();
                have_shape = true;
            } else {
                fail("has an unexpected header key '" + key + "'");
            }
            skip_ws();
            if (peek() == ',') {
                ++i_;
                continue;
            }
            skip_ws();
            if (peek() != '}') fail("has a malformed header");
        }
        if (!have_descr || !have_fortran || !have_shape)
            fail("header lacks one of 'descr', 'fortran_order', 'shape'");
    }

private:
    std::string_view s_;
    const std::string& file_;
    size_t i_ = 0;

    [[noreturn]] void fail(const std::string& what) const {
        throw Error(file_ + ": not a supported .npy file (it " + what + ").");
    }
    char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
    void skip_ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t'))
            ++i_;
    }
    void expect(char c) {
        skip_ws();
        if (peek() != c) fail(std::string("has a malformed header (expected '") + c + "')");
        ++i_;
    }
    std::string string_lit() {
        skip_ws();
        char q = peek();
        if (q != '\'' && q != '"') fail("has a malformed header (expected a quoted string)");
        size_t start = ++i_;
        while (i_ < s_.size() && s_[i_] != q)
            ++i_;
        if (i_ >= s_.size()) fail("has an unterminated string in its header");
        return std::string(s_.substr(start, i_++ - start));
    }
    bool bool_lit() {
        if (s_.substr(i_, 4) == "True") {
            i_ += 4;
            return true;
        }
        if (s_.substr(i_, 5) == "False") {
            i_ += 5;
            return false;
        }
        fail("has a 'fortran_order' that is not True or False");
    }
    std::vector<int64_t> tuple_lit() {
        std::vector<int64_t> dims;
        expect('(');
        while (true) {
            skip_ws();
            if (peek() == ')') break;
            if (peek() < '0' || peek() > '9') fail("has a shape that is not a tuple of integers");
            int64_t v = 0;
            while (peek() >= '0' && peek() <= '9') {
                if (__builtin_mul_overflow(v, 10, &v) ||
                    __builtin_add_overflow(v, peek() - '0', &v))
                    fail("has a dimension too large");
                ++i_;
            }
            if (peek() == 'L') ++i_;  // Python 2 long suffix
            dims.push_back(v);
            skip_ws();
            if (peek() == ',') {
                ++i_;
                continue;
            }
            skip_ws();
            if (peek() != ')') fail("has a malformed shape tuple");
        }
        ++i_;
        return dims;
    }
};

uint32_t read_le(const unsigned char* p, int nbytes) {
    uint32_t v = 0;
    for (int i = nbytes - 1; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

}  // namespace

void write_npy_f32(const fs::path& path, const float* data, const std::vector<int64_t>& shape) {
    const std::string name = path.string();
    const int64_t numel = checked_numel(shape);
    if (numel < 0) throw Error(name + ": cannot write an array with an invalid shape.");
    if (numel > 0 && data == nullptr) throw Error(name + ": no data given to write.");

    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
    for (size_t i = 0; i < shape.size(); ++i) {
        header += std::to_string(shape[i]);
        if (shape.size() == 1 || i + 1 < shape.size()) header += shape.size() == 1 ? "," : ", ";
    }
    header += "), }";
    // Pad with spaces and end with '\n' so the data starts at a multiple of 64 bytes.
    const bool v2 = header.size() + 1 + 10 > 65535;  // v1.0 stores the length in 2 bytes
    const size_t prefix = v2 ? 12 : 10;
    const size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
    header.append(total - prefix - header.size() - 1, ' ');
    header += '\n';

    std::string pre(kMagic, kMagicLen);
    pre += static_cast<char>(v2 ? 2 : 1);
    pre += '\0';
    const size_t hlen = header.size();
    for (size_t b = 0; b < (v2 ? 4u : 2u); ++b)
        pre += static_cast<char>((hlen >> (8 * b)) & 0xff);

    fs::path tmp = path;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw Error(name + ": cannot be written (cannot create " + tmp.string() + ").");
        out.write(pre.data(), static_cast<std::streamsize>(pre.size()));
        out.write(header.data(), static_cast<std::streamsize>(header.size()));
        if (numel > 0)
            out.write(reinterpret_cast<const char*>(data),
                      static_cast<std::streamsize>(numel) * static_cast<std::streamsize>(4));
        out.close();
        if (!out) {
            std::error_code ec;
            fs::remove(tmp, ec);
            throw Error(name + ": writing failed (disk full or no permission?).");
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        std::error_code ec2;
        fs::remove(tmp, ec2);
        throw Error(name + ": cannot be written (" + ec.message() + ").");
    }
}

NpyArray read_npy_f32(const fs::path& path) {
    const std::string name = path.string();
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error(name + ": file not found.");
    if (fs::is_directory(path, ec)) throw Error(name + " is a folder, not a .npy file.");

    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(name + ": cannot be opened for reading.");
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
    if (in.bad()) throw Error(name + ": could not be read.");

    auto truncated = [&]() { return Error(name + ": the .npy file is truncated."); };
    if (bytes.size() < 10) {
        if (bytes.size() >= kMagicLen && std::memcmp(bytes.data(), kMagic, kMagicLen) == 0)
            throw truncated();
        throw Error(name + ": not a .npy file (the magic bytes are missing).");
    }
    if (std::memcmp(bytes.data(), kMagic, kMagicLen) != 0)
        throw Error(name + ": not a .npy file (the magic bytes are missing).");
    const int major = bytes[6];
    size_t prefix = 0, hlen = 0;
    if (major == 1) {
        prefix = 10;
        hlen = read_le(bytes.data() + 8, 2);
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12) throw truncated();
        prefix = 12;
        hlen = read_le(bytes.data() + 8, 4);
    } else {
        throw Error(name + ": unsupported .npy format version " + std::to_string(major) + ".");
    }
    if (hlen > bytes.size() - prefix) throw truncated();

    std::string descr;
    bool fortran = false;
    NpyArray arr;
    std::string_view htext(reinterpret_cast<const char*>(bytes.data() + prefix), hlen);
    HeaderParser(htext, name).parse(descr, fortran, arr.shape);
    if (fortran) throw Error(name + ": Fortran-order .npy arrays are not supported.");

    size_t item = 0;
    if (descr == "<f4")
        item = 4;
    else if (descr == "<f8")
        item = 8;
    else if (descr == "<f2")
        item = 2;
    else
        throw Error(name + ": element type '" + descr +
                    "' is not supported (expected '<f4', '<f8' or '<f2').");

    const int64_t numel = checked_numel(arr.shape);
    int64_t want = 0;
    if (numel < 0 || __builtin_mul_overflow(numel, static_cast<int64_t>(item), &want))
        throw Error(name + ": the .npy shape is too large.");
    const size_t have = bytes.size() - prefix - hlen;
    if (have < static_cast<uint64_t>(want)) throw truncated();
    if (have > static_cast<uint64_t>(want))
        throw Error(name + ": the .npy file has " + std::to_string(have - want) +
                    " unexpected bytes after its data.");

    const unsigned char* p = bytes.data() + prefix + hlen;
    arr.data.resize(static_cast<size_t>(numel));
    for (size_t i = 0; i < arr.data.size(); ++i) {
        if (item == 4) {
            std::memcpy(&arr.data[i], p + 4 * i, 4);
        } else if (item == 8) {
            double d;
            std::memcpy(&d, p + 8 * i, 8);
            arr.data[i] = static_cast<float>(d);
        } else {
            uint16_t h;
            std::memcpy(&h, p + 2 * i, 2);
            arr.data[i] = f16_to_f32(h);
        }
    }
    return arr;
}

}  // namespace lc
