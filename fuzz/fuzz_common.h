#pragma once
// Shared by the fuzz targets: a temp folder per process (made once, removed at exit) and writing
// the input to a file in it, for the APIs that read files.
#include <unistd.h>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace fuzz {

inline const std::filesystem::path& temp_dir() {
    static const std::filesystem::path dir = [] {
        std::string tmpl = (std::filesystem::temp_directory_path() / "lc-fuzz-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) {
            std::perror("mkdtemp");
            std::abort();
        }
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(temp_dir(), ec);
        });
        return std::filesystem::path(tmpl);
    }();
    return dir;
}

// Writes the bytes to `name` in the temp folder and returns its path.
inline std::filesystem::path write_file(const std::string& name, const uint8_t* data, size_t size) {
    const std::filesystem::path file = temp_dir() / name;
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) {
        std::perror("write");
        std::abort();
    }
    return file;
}

}  // namespace fuzz
