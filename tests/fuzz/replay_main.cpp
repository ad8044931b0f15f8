// Replays a fuzz target's committed corpus without libFuzzer: `NAME-replay DIR...` runs
// LLVMFuzzerTestOneInput once per file. The normal build (gcc, and the ASan build) runs it
// as a ctest, so every crash once found, kept as a corpus file, stays a regression test.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
    size_t files = 0;
    for (int i = 1; i < argc; i++) {
        for (const auto& entry : std::filesystem::recursive_directory_iterator(argv[i])) {
            if (!entry.is_regular_file()) continue;
            std::ifstream in(entry.path(), std::ios::binary);
            const std::string bytes((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
            LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
            files++;
        }
    }
    std::printf("%zu corpus files replayed\n", files);
    return files > 0 ? 0 : 1;
}
