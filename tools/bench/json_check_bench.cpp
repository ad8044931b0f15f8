// json-check-bench: ns per call of protocol::IsJsonText (SSE2 RapidJSON, in place) and of a
// plain RapidJSON SAX pass over a MemoryStream (what the push path used before), on a body
// shaped like mega-bench's: {"t":"<ms>","pad":"xx…"} of BYTES bytes.
//   json-check-bench [BYTES] [CALLS]      defaults: 200 bytes, 2,000,000 calls
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "protocol/JsonCheck.h"

int main(int argc, char** argv) {
    const size_t bytes = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200;
    const long calls = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 2000000;
    std::string body = "{\"t\":\"1795435860123\",\"pad\":\"";
    const std::string tail = "\"}";
    if (bytes > body.size() + tail.size()) body.append(bytes - body.size() - tail.size(), 'x');
    body += tail;
    using Clock = std::chrono::steady_clock;
    auto per_call = [calls](Clock::time_point a, Clock::time_point b) {
        return std::chrono::duration<double, std::nano>(b - a).count() / double(calls);
    };
    long ok = 0;
    const auto t0 = Clock::now();
    for (long i = 0; i < calls; i++) {
        rapidjson::Reader reader;
        rapidjson::BaseReaderHandler<> handler;
        rapidjson::MemoryStream in(body.data(), body.size());
        ok += !reader.Parse<rapidjson::kParseStopWhenDoneFlag>(in, handler).IsError();
    }
    const auto t1 = Clock::now();
    std::string scratch;
    for (long i = 0; i < calls; i++) ok += mega::protocol::IsJsonText(body, &scratch);
    const auto t2 = Clock::now();
    std::printf("body %zu bytes, %ld calls: RapidJSON MemoryStream %.0f ns, IsJsonText %.0f ns%s\n",
                body.size(), calls, per_call(t0, t1), per_call(t1, t2),
                ok == 2 * calls ? "" : " (a check failed!)");
    return ok == 2 * calls ? 0 : 1;
}
