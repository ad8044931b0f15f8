// Tests of the wire codec (protocol/Frame): the frames the original PHP client produced
// (tests/golden) decode to the manifest's fields and re-encode to the same bytes; the streaming
// decoder copes with any split of the byte stream; bad frames get the original's error text.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "protocol/Frame.h"

using mega::protocol::Command;
using mega::protocol::Frame;
using mega::protocol::FrameDecoder;
using mega::protocol::Option;

namespace {

const std::string kGolden = MEGA_TEST_DATA "/golden/";

std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string FromHex(std::string_view hex) {
    REQUIRE(hex.size() % 2 == 0);
    auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    std::string out;
    for (size_t i = 0; i < hex.size(); i += 2)
        out.push_back(char(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
    return out;
}

std::string U32(uint32_t v) {
    return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

// A frame built by hand, field by field, so that lengths can lie.
std::string RawFrame(std::string_view header, uint32_t opaque, std::optional<std::string> tail) {
    std::string body = U32(uint32_t(header.size())) + std::string(header) + U32(opaque);
    if (tail) body += U32(uint32_t(tail->size())) + *tail;
    return U32(uint32_t(body.size())) + body;
}

// A decoded frame that owns its bytes (the decoder's views die at the next Next()).
struct Owned {
    Command command;
    std::string openid, key, options, body;
    uint32_t opaque, code;
    bool operator==(const Owned&) const = default;
};

Owned Own(const Frame& f) {
    return {f.command,
            std::string(f.openid),
            std::string(f.key),
            std::string(f.options),
            std::string(f.body),
            f.opaque,
            f.code};
}

// Drains every complete frame; returns false on kError.
bool Drain(FrameDecoder* d, std::vector<Owned>* out) {
    Frame f;
    while (true) {
        switch (d->Next(&f)) {
            case FrameDecoder::Result::kFrame:
                out->push_back(Own(f));
                break;
            case FrameDecoder::Result::kNeedMore:
                return true;
            case FrameDecoder::Result::kError:
                return false;
        }
    }
}

// Feeds bytes through Writable/Commit (the path libuv uses) in pieces of at most `chunk`.
void FeedInPlace(FrameDecoder* d, std::string_view bytes, size_t chunk) {
    while (!bytes.empty()) {
        size_t len = 0;
        char* p = d->Writable(&len);
        REQUIRE(len > 0);
        size_t n = std::min({len, chunk, bytes.size()});
        std::memcpy(p, bytes.data(), n);
        d->Commit(n);
        bytes.remove_prefix(n);
    }
}

// Decodes one complete frame that must be malformed; returns the error text.
std::string DecodeError(const std::string& bytes, size_t max = 2465792) {
    FrameDecoder d(max);
    d.Append(bytes);
    Frame f;
    auto r = d.Next(&f);
    REQUIRE(r == FrameDecoder::Result::kError);
    return d.error();
}

struct Golden {
    std::string name, bytes;
    Owned frame;  // what it must decode to
};

rapidjson::Document LoadManifest() {
    rapidjson::Document doc;
    const std::string text = ReadFile(kGolden + "manifest.json");
    doc.Parse(text.c_str(), text.size());
    REQUIRE_FALSE(doc.HasParseError());
    REQUIRE(doc.IsObject());
    return doc;
}

std::vector<Golden> LoadGolden() {
    rapidjson::Document doc = LoadManifest();
    std::vector<Golden> out;
    for (auto& m : doc.GetObject()) {
        const auto& e = m.value;
        Golden g;
        g.name = m.name.GetString();
        g.bytes = ReadFile(kGolden + e["file"].GetString());
        const std::string cls = e["class"].GetString();
        g.frame.opaque = e["opaque"].GetUint();
        g.frame.code = 0;
        if (cls == "Network\\PushCommand" || cls == "Network\\SendCommand") {
            g.frame.command = cls == "Network\\PushCommand" ? Command::kPush : Command::kSend;
            g.frame.openid = e["openid"].GetString();
            g.frame.key = e["key"].GetString();
        } else if (cls == "Network\\SetTableCommand") {
            g.frame.command = Command::kTset;
            g.frame.key = e["key"].GetString();
        } else {
            REQUIRE(cls == "Network\\BooleanCommand");
            g.frame.command = Command::kResult;
            g.frame.code = e["code"].GetUint();
            if (!e["message"].IsNull()) g.frame.body = e["message"].GetString();
        }
        out.push_back(std::move(g));
    }
    REQUIRE(out.size() == 10);
    return out;
}

std::string AllGoldenBytes(const std::vector<Golden>& golden) {
    std::string all;
    for (const auto& g : golden) all += g.bytes;
    return all;
}

}  // namespace

TEST_CASE("golden files hold the bytes the manifest lists") {
    rapidjson::Document doc = LoadManifest();
    for (auto& m : doc.GetObject()) {
        CAPTURE(m.name.GetString());
        CHECK(ReadFile(kGolden + m.value["file"].GetString()) ==
              FromHex(m.value["hex"].GetString()));
    }
}

TEST_CASE("every golden frame decodes to the manifest's fields") {
    rapidjson::Document doc = LoadManifest();
    for (auto& m : doc.GetObject()) {
        const auto& e = m.value;
        CAPTURE(m.name.GetString());
        const std::string bytes = ReadFile(kGolden + e["file"].GetString());
        FrameDecoder d;
        d.Append(bytes);
        Frame f;
        REQUIRE(d.Next(&f) == FrameDecoder::Result::kFrame);
        CHECK(f.opaque == e["opaque"].GetUint());
        CHECK(f.options.empty());
        const std::string cls = e["class"].GetString();
        if (cls == "Network\\PushCommand" || cls == "Network\\SendCommand") {
            CHECK(f.command == (cls == "Network\\PushCommand" ? Command::kPush : Command::kSend));
            CHECK(f.openid == e["openid"].GetString());
            CHECK(f.key == e["key"].GetString());
            // The body is JSON equal to the manifest's data (null when the caller had none).
            rapidjson::Document body;
            body.Parse(f.body.data(), f.body.size());
            REQUIRE_FALSE(body.HasParseError());
            CHECK(body == e["data"]);
            if (e["data"].IsNull()) CHECK(f.body == "null");
        } else if (cls == "Network\\SetTableCommand") {
            CHECK(f.command == Command::kTset);
            CHECK(f.key == e["key"].GetString());
            CHECK(f.openid.empty());
            CHECK(f.body.empty());
        } else {
            CHECK(f.command == Command::kResult);
            CHECK(f.code == e["code"].GetUint());
            if (e["message"].IsNull()) {
                CHECK(f.body.empty());
            } else {
                CHECK(f.body == e["message"].GetString());
            }
        }
        CHECK(d.buffered() == 0);
        CHECK(d.Next(&f) == FrameDecoder::Result::kNeedMore);
    }
}

TEST_CASE("the PHP client's unicode body decodes to the UTF-8 text") {
    FrameDecoder d;
    d.Append(ReadFile(kGolden + "push_unicode.bin"));
    Frame f;
    REQUIRE(d.Next(&f) == FrameDecoder::Result::kFrame);
    CHECK(f.opaque == 0xffffffffu);
    rapidjson::Document body;
    body.Parse(f.body.data(), f.body.size());
    REQUIRE(body.IsObject());
    CHECK(std::string(body["name"].GetString()) == "\xe5\xbc\xa0\xe4\xb8\x89");  // 张三
    CHECK(std::string(body["url"].GetString()) == "http://a.b/c?d=1&e=\"x\"");
}

TEST_CASE("every golden frame re-encodes to the same bytes") {
    for (const auto& g : LoadGolden()) {
        CAPTURE(g.name);
        std::string out = "prefix";  // appends, never overwrites
        if (g.frame.command == Command::kResult) {
            mega::protocol::AppendResult(&out, g.frame.code, g.frame.opaque, g.frame.body);
        } else {
            // Take the body from the decoder: the encoder must not reformat the JSON.
            FrameDecoder d;
            d.Append(g.bytes);
            Frame f;
            REQUIRE(d.Next(&f) == FrameDecoder::Result::kFrame);
            mega::protocol::AppendRequest(&out, g.frame.command, g.frame.openid, g.frame.key,
                                          g.frame.opaque, f.body);
        }
        CHECK(out == "prefix" + g.bytes);
    }
}

TEST_CASE("encoded frames decode back, raw UTF-8 bodies and options included") {
    std::string out;
    const std::string body = "{\"name\":\"\xe5\xbc\xa0\xe4\xb8\x89\",\"url\":\"http://a/b\"}";
    mega::protocol::AppendRequest(&out, Command::kSend, "oX", "k1", 42, body, "priority=high");
    mega::protocol::AppendRequest(&out, Command::kTset, "ignored", "k2", 43, "ignored");
    mega::protocol::AppendRequest(&out, Command::kPush, "oY", "k3", 44, "", "");
    mega::protocol::AppendResult(&out, 500, 0, "Unknown command");
    FrameDecoder d;
    d.Append(out);
    std::vector<Owned> frames;
    REQUIRE(Drain(&d, &frames));
    REQUIRE(frames.size() == 4);
    CHECK(frames[0] == Owned{Command::kSend, "oX", "k1", "priority=high", body, 42, 0});
    CHECK(frames[1] == Owned{Command::kTset, "", "k2", "", "", 43, 0});
    CHECK(frames[2] == Owned{Command::kPush, "oY", "k3", "", "", 44, 0});
    CHECK(frames[3] == Owned{Command::kResult, "", "", "", "Unknown command", 0, 500});
}

TEST_CASE("frames split at every byte boundary decode the same") {
    const auto golden = LoadGolden();
    const std::string all = AllGoldenBytes(golden);
    std::vector<Owned> want;
    for (const auto& g : golden) want.push_back(g.frame);
    // Bodies of requests are not in Golden::frame (they are JSON compared elsewhere): take
    // them from one whole decode, then demand the same from every split.
    {
        FrameDecoder d;
        d.Append(all);
        std::vector<Owned> got;
        REQUIRE(Drain(&d, &got));
        REQUIRE(got.size() == want.size());
        for (size_t i = 0; i < want.size(); i++) {
            if (want[i].command != Command::kResult) want[i].body = got[i].body;
            CHECK(got[i] == want[i]);
        }
    }
    for (size_t split = 0; split <= all.size(); split++) {
        CAPTURE(split);
        FrameDecoder d;
        std::vector<Owned> got;
        d.Append(std::string_view(all).substr(0, split));
        REQUIRE(Drain(&d, &got));
        d.Append(std::string_view(all).substr(split));
        REQUIRE(Drain(&d, &got));
        CHECK(got == want);
        CHECK(d.buffered() == 0);
    }
    SUBCASE("one byte at a time, through Writable/Commit") {
        FrameDecoder d;
        std::vector<Owned> got;
        for (char c : all) {
            FeedInPlace(&d, std::string_view(&c, 1), 1);
            REQUIRE(Drain(&d, &got));
        }
        CHECK(got == want);
    }
}

TEST_CASE("many frames in one buffer, and frames larger than the buffer") {
    std::string all;
    std::vector<Owned> want;
    for (uint32_t i = 0; i < 5000; i++) {
        const std::string openid = "o" + std::to_string(i);
        const std::string body = "{\"n\":\"" + std::string(i % 97, 'x') + "\"}";
        mega::protocol::AppendRequest(&all, i % 2 ? Command::kSend : Command::kPush, openid, "key",
                                      i, body);
        want.push_back({i % 2 ? Command::kSend : Command::kPush, openid, "key", "", body, i, 0});
    }
    // One frame bigger than the decoder's initial buffer (64 KiB).
    const std::string big(300000, 'b');
    mega::protocol::AppendRequest(&all, Command::kPush, "oBig", "key", 7, big);
    want.push_back({Command::kPush, "oBig", "key", "", big, 7, 0});

    SUBCASE("appended at once") {
        FrameDecoder d;
        d.Append(all);
        std::vector<Owned> got;
        REQUIRE(Drain(&d, &got));
        CHECK(got == want);
    }
    SUBCASE("read in place in odd-sized pieces") {
        FrameDecoder d;
        std::vector<Owned> got;
        for (size_t pos = 0; pos < all.size(); pos += 7777) {
            FeedInPlace(&d, std::string_view(all).substr(pos, 7777), 7777);
            REQUIRE(Drain(&d, &got));
        }
        CHECK(got == want);
        CHECK(d.buffered() == 0);
    }
}

TEST_CASE("an oversize frame is refused as soon as its length word arrives") {
    SUBCASE("small limit") {
        FrameDecoder d(100);
        Frame f;
        d.Append(U32(95));  // total 99: allowed, wait for it
        CHECK(d.Next(&f) == FrameDecoder::Result::kNeedMore);
        FrameDecoder e(100);
        e.Append(U32(96));  // total 100: allowed
        CHECK(e.Next(&f) == FrameDecoder::Result::kNeedMore);
        FrameDecoder g(100);
        g.Append(U32(97));  // total 101: too big, before any of its bytes
        CHECK(g.Next(&f) == FrameDecoder::Result::kError);
        CHECK(std::string(g.error()) == "Package too big");
    }
    SUBCASE("the original's default package_max_length") {
        FrameDecoder ok, big;
        Frame f;
        ok.Append(U32(2465792 - 4));
        CHECK(ok.Next(&f) == FrameDecoder::Result::kNeedMore);
        big.Append(U32(2465792 - 3));
        CHECK(big.Next(&f) == FrameDecoder::Result::kError);
        CHECK(std::string(big.error()) == "Package too big");
        FrameDecoder huge;
        huge.Append(U32(0xffffffffu));
        CHECK(huge.Next(&f) == FrameDecoder::Result::kError);
        CHECK(std::string(huge.error()) == "Package too big");
    }
    SUBCASE("after good frames, the length word split in two reads") {
        std::string good;
        mega::protocol::AppendResult(&good, 200, 1, "");
        FrameDecoder d(64);
        Frame f;
        d.Append(good + U32(61).substr(0, 2));
        CHECK(d.Next(&f) == FrameDecoder::Result::kFrame);
        CHECK(d.Next(&f) == FrameDecoder::Result::kNeedMore);
        d.Append(U32(61).substr(2));
        CHECK(d.Next(&f) == FrameDecoder::Result::kError);
        CHECK(std::string(d.error()) == "Package too big");
    }
    SUBCASE("a frame exactly at the limit decodes") {
        std::string frame;
        mega::protocol::AppendRequest(&frame, Command::kPush, "o", "k", 1, std::string(60, 'x'));
        FrameDecoder d(frame.size());
        d.Append(frame);
        Frame f;
        CHECK(d.Next(&f) == FrameDecoder::Result::kFrame);
        FrameDecoder e(frame.size() - 1);
        e.Append(frame.substr(0, 4));
        CHECK(e.Next(&f) == FrameDecoder::Result::kError);
        CHECK(std::string(e.error()) == "Package too big");
    }
}

TEST_CASE("malformed frames are answered with Unknown command") {
    SUBCASE("header length past the end of the frame") {
        std::string bytes = U32(12) + U32(100) + "push" + U32(1);
        CHECK(DecodeError(bytes) == "Unknown command");
    }
    SUBCASE("header length leaves no room for opaque") {
        std::string bytes = U32(4 + 10 + 2) + U32(10) + "tset k abc" + std::string(2, '\0');
        CHECK(DecodeError(bytes) == "Unknown command");
    }
    SUBCASE("unknown command") {
        CHECK(DecodeError(RawFrame("pull o k", 1, "{}")) == "Unknown command");
        CHECK(DecodeError(RawFrame("PUSH o k", 1, "{}")) == "Unknown command");
    }
    SUBCASE("empty header") {
        CHECK(DecodeError(RawFrame("", 1, "{}")) == "Unknown command");
    }
    SUBCASE("missing openid or key") {
        CHECK(DecodeError(RawFrame("push", 1, "{}")) == "Unknown command");
        CHECK(DecodeError(RawFrame("push o", 1, "{}")) == "Unknown command");
        CHECK(DecodeError(RawFrame("send ", 1, "{}")) == "Unknown command");
        CHECK(DecodeError(RawFrame("tset", 1, std::nullopt)) == "Unknown command");
    }
    SUBCASE("body length does not match the frame") {
        std::string longer = RawFrame("push o k", 1, "{\"a\":1}");
        longer[longer.size() - 8] = 0x08;  // body length 8, 7 bytes present
        CHECK(DecodeError(longer) == "Unknown command");
        std::string shorter = RawFrame("push o k", 1, "{\"a\":1}");
        shorter[shorter.size() - 8] = 0x06;  // body length 6, 7 bytes present
        CHECK(DecodeError(shorter) == "Unknown command");
        std::string partial = U32(4 + 8 + 4 + 2) + U32(8) + "push o k" + U32(1) + "ab";
        CHECK(DecodeError(partial) == "Unknown command");  // a tail too short for its length
    }
    SUBCASE("pack length below 8") {
        for (uint32_t pack = 0; pack < 8; pack++) {
            CAPTURE(pack);
            CHECK(DecodeError(U32(pack) + std::string(pack, 'x')) == "Unknown command");
        }
    }
    SUBCASE("result without a message length or with a bad code") {
        CHECK(DecodeError(RawFrame("result 200", 1, std::nullopt)) == "Unknown command");
        CHECK(DecodeError(RawFrame("result 2x0", 1, "")) == "Unknown command");
        CHECK(DecodeError(RawFrame("result", 1, "")) == "Unknown command");
        CHECK(DecodeError(RawFrame("result 1234567890", 1, "")) == "Unknown command");
    }
    SUBCASE("the decoder stays in error") {
        FrameDecoder d;
        std::string good;
        mega::protocol::AppendResult(&good, 200, 1, "");
        d.Append(good + RawFrame("nope", 2, "") + good);
        Frame f;
        CHECK(d.Next(&f) == FrameDecoder::Result::kFrame);
        CHECK(d.Next(&f) == FrameDecoder::Result::kError);
        CHECK(d.Next(&f) == FrameDecoder::Result::kError);
        CHECK(std::string(d.error()) == "Unknown command");
    }
}

TEST_CASE("extension words land in options and ParseOptions splits them") {
    FrameDecoder d;
    d.Append(RawFrame("push o k priority=high msgkey=a", 5, "null"));
    d.Append(RawFrame("tset k2 x=1", 6, std::nullopt));
    Frame f;
    REQUIRE(d.Next(&f) == FrameDecoder::Result::kFrame);
    CHECK(f.command == Command::kPush);
    CHECK(f.openid == "o");
    CHECK(f.key == "k");
    CHECK(f.options == "priority=high msgkey=a");
    CHECK(f.body == "null");

    std::vector<Option> opts;
    std::string_view bad = "untouched";
    REQUIRE(mega::protocol::ParseOptions(f.options, &opts, &bad));
    REQUIRE(opts.size() == 2);
    CHECK(opts[0].name == "priority");
    CHECK(opts[0].value == "high");
    CHECK(opts[1].name == "msgkey");
    CHECK(opts[1].value == "a");

    REQUIRE(d.Next(&f) == FrameDecoder::Result::kFrame);
    CHECK(f.command == Command::kTset);
    CHECK(f.key == "k2");
    CHECK(f.options == "x=1");

    SUBCASE("a word without '=' is rejected and named") {
        CHECK_FALSE(mega::protocol::ParseOptions("priority=high bogus delay=3", &opts, &bad));
        CHECK(bad == "bogus");
        CHECK_FALSE(mega::protocol::ParseOptions("=x", &opts, &bad));
        CHECK(bad == "=x");
    }
    SUBCASE("values may hold '=' or be empty; no words is no options") {
        REQUIRE(mega::protocol::ParseOptions("a=b=c  d=", &opts, &bad));
        REQUIRE(opts.size() == 2);
        CHECK(opts[0].name == "a");
        CHECK(opts[0].value == "b=c");
        CHECK(opts[1].name == "d");
        CHECK(opts[1].value.empty());
        REQUIRE(mega::protocol::ParseOptions("", &opts, &bad));
        CHECK(opts.empty());
    }
    SUBCASE("options round-trip through AppendRequest") {
        std::string out;
        mega::protocol::AppendRequest(&out, Command::kPush, "o", "k", 5, "null",
                                      "priority=high msgkey=a");
        CHECK(out == RawFrame("push o k priority=high msgkey=a", 5, "null"));
    }
}

TEST_CASE("FrameDecoder: memory follows the bytes received, not the length announced") {
    constexpr size_t kChunk = 64 * 1024;
    SUBCASE("a length word and one byte reserve one read chunk, not the frame") {
        FrameDecoder d;
        d.Append(U32(2465792 - 4) + "p");
        size_t len = 0;
        d.Writable(&len);
        CHECK(d.capacity() <= kChunk);
    }
    SUBCASE("a large frame grows the buffer at most to twice what arrived, then it shrinks") {
        const std::string body(2'000'000, 'x');
        std::string frame;
        mega::protocol::AppendRequest(&frame, Command::kPush, "o", "k", 7, body);
        FrameDecoder d;
        size_t fed = 0;
        while (fed < frame.size()) {
            size_t len = 0;
            char* p = d.Writable(&len);
            CHECK(d.capacity() <= std::max(kChunk, 2 * fed) + kChunk);
            const size_t n = std::min({len, size_t(4096), frame.size() - fed});
            std::memcpy(p, frame.data() + fed, n);
            d.Commit(n);
            fed += n;
        }
        Frame f;
        REQUIRE(d.Next(&f) == FrameDecoder::Result::kFrame);
        CHECK(f.body.size() == body.size());
        std::string next;
        mega::protocol::AppendRequest(&next, Command::kPush, "o", "k", 8, "{}");
        d.Append(next.substr(0, 10));  // a partial frame keeps a buffer, a small one
        CHECK(d.capacity() == kChunk);
        d.Append(next.substr(10));
        REQUIRE(d.Next(&f) == FrameDecoder::Result::kFrame);
        d.ReleaseIfEmpty();
        CHECK(d.capacity() == 0);
    }
}
