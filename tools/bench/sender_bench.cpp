// Throughput check of the delivery engine (delivery/SenderPool) against a local stand-in for
// WeChat that answers every send after a fixed delay.
//   sender_bench serve PORT DELAY_MS                       the stand-in (epoll, one thread)
//   sender_bench run URL MESSAGES THREADS INFLIGHT         SenderPool, kept full, msgs/s
// Also counts C++ allocations per message in the steady state (operator new is counted).
// GCC flags the counting operator new/delete pair (malloc/free) as mismatched: it is not.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "delivery/SenderPool.h"
#include "delivery/WechatTemplateChannel.h"

namespace {

std::atomic<uint64_t> g_allocations{0};

}  // namespace

void* operator new(size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, size_t) noexcept {
    std::free(p);
}

namespace {

using Clock = std::chrono::steady_clock;

int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
        .count();
}

// The stand-in: keep-alive HTTP/1.1, token requests answered at once, sends after delay_ms.
int Serve(int port, int delay_ms) {
    const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(uint16_t(port));
    if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lfd, 4096) != 0) {
        std::perror("bind/listen");
        return 1;
    }
    const int ep = epoll_create1(0);
    epoll_event ev{EPOLLIN, {.fd = lfd}};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct Conn {
        std::string in;
        uint64_t serial = 0;
    };
    std::unordered_map<int, Conn> conns;
    struct Due {
        int64_t at;
        int fd;
        uint64_t serial;
    };
    std::deque<Due> due;  // constant delay: already in time order
    uint64_t serial = 0, msgid = 1;
    const std::string token_reply =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 49\r\n\r\n"
        R"({"access_token":"BENCHTOKEN42","expires_in":7200})";
    std::vector<epoll_event> events(1024);
    char buf[65536];
    std::string reply;
    for (;;) {
        int timeout = -1;
        if (!due.empty()) timeout = int(std::max<int64_t>(0, due.front().at - NowMs()));
        const int n = epoll_wait(ep, events.data(), int(events.size()), timeout);
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == lfd) {
                for (int c; (c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    epoll_event cev{EPOLLIN, {.fd = c}};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                    conns[c].serial = ++serial;
                }
                continue;
            }
            Conn& c = conns[fd];
            const ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
                close(fd);
                conns.erase(fd);
                continue;
            }
            c.in.append(buf, size_t(r));
            for (;;) {
                const size_t end = c.in.find("\r\n\r\n");
                if (end == std::string::npos) break;
                size_t length = 0;
                const size_t cl = c.in.find("Content-Length: ");
                if (cl != std::string::npos && cl < end)
                    length = std::strtoul(&c.in[cl + 16], nullptr, 10);
                if (c.in.size() < end + 4 + length) break;
                const bool token = c.in.compare(0, 15, "GET /cgi-bin/to") == 0;
                c.in.erase(0, end + 4 + length);
                if (token) {
                    (void)!write(fd, token_reply.data(), token_reply.size());
                } else {
                    due.push_back({NowMs() + delay_ms, fd, c.serial});
                }
            }
        }
        const int64_t now = NowMs();
        while (!due.empty() && due.front().at <= now) {
            const Due d = due.front();
            due.pop_front();
            auto it = conns.find(d.fd);
            if (it == conns.end() || it->second.serial != d.serial) continue;
            char body[96];
            const int blen =
                std::snprintf(body, sizeof body, R"({"errcode":0,"errmsg":"ok","msgid":%llu})",
                              static_cast<unsigned long long>(msgid++));
            reply.assign("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ");
            reply.append(std::to_string(blen)).append("\r\n\r\n").append(body, size_t(blen));
            (void)!write(d.fd, reply.data(), reply.size());
        }
    }
}

int Run(const std::string& url, uint64_t messages, int threads, int inflight) {
    mega::Config config;
    config.api_base = {url};
    config.app_id = "wxbench";
    config.app_secret = "benchsecret";
    config.stable_token = false;  // the stand-in answers the classic GET /cgi-bin/token
    config.task_worker_num = threads;
    config.max_inflight = inflight;
    config.http_timeout_ms = 10000;
    std::shared_ptr<const mega::Template> tmpl;
    mega::Status s = mega::Template::Parse(
        "order_paid",
        R"({"touser":"${OPENID}","template_id":"ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",)"
        R"("url":"http://weixin.qq.com/download","data":{"first":{"value":"${first}",)"
        R"("color":"#173177"},"keynote1":{"value":"${product}","color":"#173177"},)"
        R"("keynote2":{"value":"${price}","color":"#173177"}}})",
        &tmpl);
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.message().c_str()), 1;
    static const std::string openid = "oia2TjuEGTNoeX76QEjQNrcURxG8";
    static const std::string data =
        R"({"first":"\u60a8\u597d\uff0c\u60a8\u7684\u8ba2\u5355\u5df2\u652f\u4ed8",)"
        R"("product":"\u5de7\u514b\u529b","price":"39.8","url":"http:\/\/a.b\/c"})";
    static const std::string msgkey = "order-1881";

    uv_loop_t loop;
    uv_loop_init(&loop);
    mega::TokenCache tokens(config);
    uint64_t submitted = 0, done = 0, failed = 0;
    std::vector<uint32_t> latencies;
    latencies.reserve(messages);
    std::vector<mega::DeliveryJob> batch;
    batch.reserve(size_t(threads) * size_t(inflight));
    const uint64_t warmup = std::min<uint64_t>(messages / 5, 20000);
    uint64_t alloc_at_warm = 0, done_at_warm = 0;
    int64_t start_ms = 0, warm_ms = 0;
    mega::SenderPool* pool_ptr = nullptr;

    auto refill = [&](size_t n) {
        batch.clear();
        for (size_t i = 0; i < n && submitted < messages; ++i, ++submitted) {
            mega::DeliveryJob j;
            j.id = submitted;
            j.tag = submitted;
            j.tmpl = tmpl;
            j.openid = openid;
            j.data = data;
            j.msgkey = msgkey;
            batch.push_back(std::move(j));
        }
        if (!batch.empty()) pool_ptr->Submit(&batch);
    };
    const mega::WechatTemplateChannel channel;
    mega::SenderPool pool(&loop, config, &tokens, &channel,
                          [&](std::vector<mega::DeliveryResult>& rs) {
                              for (const auto& r : rs) {
                                  if (r.outcome != mega::Outcome::kSent) {
                                      if (failed++ < 5)
                                          std::fprintf(stderr, "failed: %s\n", r.reply.c_str());
                                  }
                                  latencies.push_back(r.latency_us);
                              }
                              done += rs.size();
                              if (done_at_warm == 0 && done >= warmup) {
                                  done_at_warm = done;
                                  alloc_at_warm = g_allocations.load();
                                  warm_ms = NowMs();
                              }
                              refill(rs.size());
                              if (done == messages) uv_stop(&loop);
                          });
    pool_ptr = &pool;
    start_ms = NowMs();
    refill(pool.capacity());
    uv_run(&loop, UV_RUN_DEFAULT);
    const int64_t end_ms = NowMs();
    const uint64_t alloc_end = g_allocations.load();
    pool.Stop(1000);
    uv_run(&loop, UV_RUN_NOWAIT);

    std::sort(latencies.begin(), latencies.end());
    auto pct = [&](double p) {
        return latencies[size_t(p * double(latencies.size() - 1))] / 1000.0;
    };
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double secs = double(end_ms - start_ms) / 1000.0;
    const double steady_secs = double(end_ms - warm_ms) / 1000.0;
    std::printf("messages %llu, failed %llu, threads %d x inflight %d\n",
                static_cast<unsigned long long>(done), static_cast<unsigned long long>(failed),
                threads, inflight);
    std::printf("total %.2f s: %.0f msgs/s; steady state (after %llu): %.0f msgs/s\n", secs,
                double(done) / secs, static_cast<unsigned long long>(done_at_warm),
                double(done - done_at_warm) / steady_secs);
    std::printf("latency ms: p50 %.1f p99 %.1f max %.1f\n", pct(0.5), pct(0.99), pct(1.0));
    std::printf("operator new per message in steady state: %.3f\n",
                double(alloc_end - alloc_at_warm) / double(done - done_at_warm));
    std::printf("cpu user %.2f s sys %.2f s, max rss %ld MiB, token refreshes %llu\n",
                double(ru.ru_utime.tv_sec) + ru.ru_utime.tv_usec / 1e6,
                double(ru.ru_stime.tv_sec) + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss / 1024,
                static_cast<unsigned long long>(tokens.refreshes()));
    uv_loop_close(&loop);
    return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "serve") == 0)
        return Serve(std::atoi(argv[2]), std::atoi(argv[3]));
    if (argc == 6 && std::strcmp(argv[1], "run") == 0) {
        return Run(argv[2], std::strtoull(argv[3], nullptr, 10), std::atoi(argv[4]),
                   std::atoi(argv[5]));
    }
    std::fprintf(stderr,
                 "usage: sender_bench serve PORT DELAY_MS\n"
                 "       sender_bench run URL MESSAGES THREADS INFLIGHT\n");
    return 2;
}
