// TlsFront: HTTPS for fake-wechat (--tls-cert/--tls-key). It accepts TLS connections, runs
// OpenSSL on memory BIOs on the libuv loop, and relays the plaintext to fake-wechat's own
// HTTP server over a loopback connection of its own per client. For tests and benchmarks of
// mega's TLS path (a throwaway certificate made at run time), not for production.
#pragma once

#include <openssl/ssl.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "base/Status.h"
#include "http/UvHandle.h"

namespace fakewechat {

class TlsSession;

class TlsFront {
  public:
    explicit TlsFront(uv_loop_t* loop);
    ~TlsFront();
    TlsFront(const TlsFront&) = delete;
    TlsFront& operator=(const TlsFront&) = delete;

    // Loads the PEM certificate (chain) and key, binds host:port (0: any free port) and relays
    // every connection to 127.0.0.1:backend_port.
    mega::Status Listen(const std::string& cert_file, const std::string& key_file,
                        const std::string& host, int port, int backend_port);
    int port() const { return port_; }

    // A session that ended: freed now (its handles close through libuv).
    void Drop(uint64_t id);
    TlsSession* Find(uint64_t id);

  private:
    static void OnConnection(uv_stream_t* server, int status);

    uv_loop_t* loop_;
    std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx_{nullptr, SSL_CTX_free};
    mega::UvHandle<uv_tcp_t> listener_;
    int port_ = 0;
    int backend_port_ = 0;
    uint64_t next_id_ = 1;
    std::unordered_map<uint64_t, std::unique_ptr<TlsSession>> sessions_;
};

}  // namespace fakewechat
