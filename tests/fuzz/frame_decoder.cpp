// libFuzzer target: the protocol's frame decoder (protocol/Frame) fed a hostile byte stream
// in pieces whose sizes come from the input. Every frame it yields must re-encode and decode
// to the same fields, and the decoder's buffer must stay in proportion to what it holds.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "protocol/Frame.h"

namespace {

using mega::protocol::Command;
using mega::protocol::Frame;
using mega::protocol::FrameDecoder;

void Require(bool ok) {
    if (!ok) std::abort();
}

// A request frame decoded, encoded again and decoded again keeps its fields.
void CheckRoundTrip(const Frame& f) {
    std::string bytes;
    if (f.command == Command::kResult) {
        mega::protocol::AppendResult(&bytes, f.code, f.opaque, f.body);
    } else {
        mega::protocol::AppendRequest(&bytes, f.command, f.openid, f.key, f.opaque, f.body,
                                      f.options);
    }
    FrameDecoder again(bytes.size() + 4);
    again.Append(bytes);
    Frame g;
    Require(again.Next(&g) == FrameDecoder::Result::kFrame);
    Require(g.command == f.command && g.opaque == f.opaque);
    Require(f.command == Command::kTset || g.body == f.body);  // tset has no body
    Require(g.openid == f.openid && g.key == f.key && g.code == f.code);
    Require(f.command == Command::kResult || g.options == f.options);
    std::vector<mega::protocol::Option> options;
    std::string_view bad;
    mega::protocol::ParseOptions(f.options, &options, &bad);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const size_t piece = 1 + data[0] % 64;  // bytes per read
    const size_t max_frame = 64 + size_t(data[1]) * 256;
    data += 2;
    size -= 2;
    FrameDecoder decoder(max_frame);
    size_t fed = 0;
    while (fed < size) {
        size_t room = 0;
        char* p = decoder.Writable(&room);
        Require(room > 0);
        Require(decoder.capacity() <= 4 * decoder.buffered() + 2 * 64 * 1024);
        const size_t n = std::min({room, piece, size - fed});
        std::memcpy(p, data + fed, n);
        decoder.Commit(n);
        fed += n;
        Frame f;
        FrameDecoder::Result r;
        while ((r = decoder.Next(&f)) == FrameDecoder::Result::kFrame) CheckRoundTrip(f);
        if (r == FrameDecoder::Result::kError) {
            Require(std::strlen(decoder.error()) > 0);
            return 0;  // the server closes the connection here
        }
    }
    return 0;
}
