// TlsFront: fake-wechat's HTTPS listener. One TlsSession per client: TLS bytes from the client
// go into the SSL object's read BIO, the plaintext it yields goes to fake-wechat's HTTP port;
// the HTTP replies go through SSL_write and the write BIO's bytes back to the client.
#include "tools/fake-wechat/TlsFront.h"

#include <netinet/in.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <cstdio>
#include <utility>
#include <vector>

namespace fakewechat {

namespace {

// A uv_write of bytes the request owns (freed by the callback, also when cancelled).
struct OwnedWrite {
    uv_write_t req{};
    std::string data;
};

void WriteOwned(uv_stream_t* stream, std::string data) {
    auto write = std::make_unique<OwnedWrite>();
    write->data = std::move(data);
    write->req.data = write.get();
    uv_buf_t buf = uv_buf_init(write->data.data(), static_cast<unsigned>(write->data.size()));
    auto done = [](uv_write_t* req, int) {
        std::unique_ptr<OwnedWrite> owned(static_cast<OwnedWrite*>(req->data));
    };
    if (uv_write(&write->req, stream, &buf, 1, done) == 0) write.release();
}

std::string OpenSslError() {
    const unsigned long code = ERR_get_error();
    char text[256] = "unknown error";
    if (code != 0) ERR_error_string_n(code, text, sizeof text);
    return text;
}

}  // namespace

class TlsSession {
  public:
    TlsSession(TlsFront* front, uv_loop_t* loop, uint64_t id, SSL_CTX* ctx)
        : front_(front),
          id_(id),
          client_(loop, [](uv_loop_t* l, uv_tcp_t* t) { return uv_tcp_init(l, t); }),
          backend_(loop, [](uv_loop_t* l, uv_tcp_t* t) { return uv_tcp_init(l, t); }),
          ssl_(SSL_new(ctx), SSL_free),
          buffer_(64 * 1024) {
        BIO* in = BIO_new(BIO_s_mem());
        BIO* out = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl_.get(), in, out);  // the SSL object owns both now
        in_ = in;
        out_ = out;
        SSL_set_accept_state(ssl_.get());
        client_.get()->data = this;
        backend_.get()->data = this;
    }

    // Accepts the pending client on `server` and connects to the backend.
    bool Start(uv_stream_t* server, int backend_port) {
        if (uv_accept(server, client_.stream()) != 0) return false;
        sockaddr_in to{};
        uv_ip4_addr("127.0.0.1", backend_port, &to);
        auto connect = std::make_unique<ConnectRequest>();
        connect->front = front_;
        connect->id = id_;
        connect->req.data = connect.get();
        if (uv_tcp_connect(&connect->req, backend_.get(), reinterpret_cast<sockaddr*>(&to),
                           &TlsSession::OnBackendConnected) != 0)
            return false;
        connect.release();
        return uv_read_start(client_.stream(), &TlsSession::Alloc, &TlsSession::OnClientRead) == 0;
    }

  private:
    struct ConnectRequest {
        uv_connect_t req{};
        TlsFront* front = nullptr;
        uint64_t id = 0;
    };

    static void Alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
        auto* self = static_cast<TlsSession*>(handle->data);
        *buf = uv_buf_init(self->buffer_.data(), static_cast<unsigned>(self->buffer_.size()));
    }

    static void OnBackendConnected(uv_connect_t* req, int status) {
        std::unique_ptr<ConnectRequest> connect(static_cast<ConnectRequest*>(req->data));
        if (status == UV_ECANCELED) return;  // the session (or the front) is gone
        TlsSession* self = connect->front->Find(connect->id);
        if (self == nullptr) return;
        if (status != 0) return self->Finish();
        self->backend_connected_ = true;
        if (!self->to_backend_.empty())
            WriteOwned(self->backend_.stream(), std::move(self->to_backend_));
        self->to_backend_.clear();
        if (uv_read_start(self->backend_.stream(), &TlsSession::Alloc, &TlsSession::OnBackendRead))
            self->Finish();
    }

    static void OnClientRead(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
        auto* self = static_cast<TlsSession*>(stream->data);
        if (self == nullptr || n == 0) return;
        if (n < 0) return self->Finish();
        self->FromClient(buf->base, static_cast<size_t>(n));
    }

    static void OnBackendRead(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
        auto* self = static_cast<TlsSession*>(stream->data);
        if (self == nullptr || n == 0) return;
        if (n < 0) return self->Finish();
        self->FromBackend(buf->base, static_cast<size_t>(n));
    }

    // TLS bytes in; plaintext out to the backend; handshake or alert bytes back to the client.
    void FromClient(const char* data, size_t size) {
        BIO_write(in_, data, static_cast<int>(size));
        std::string plain;
        char chunk[16 * 1024];
        for (;;) {
            const int n = SSL_read(ssl_.get(), chunk, sizeof chunk);
            if (n > 0) {
                plain.append(chunk, static_cast<size_t>(n));
                continue;
            }
            const int error = SSL_get_error(ssl_.get(), n);
            FlushToClient();
            if (error == SSL_ERROR_WANT_READ) break;
            if (error != SSL_ERROR_ZERO_RETURN)
                std::fprintf(stderr, "fake-wechat: TLS: %s\n", OpenSslError().c_str());
            return Finish();
        }
        if (SSL_is_init_finished(ssl_.get()) && !reply_.empty()) FromBackend(nullptr, 0);
        if (plain.empty()) return;
        if (backend_connected_)
            WriteOwned(backend_.stream(), std::move(plain));
        else
            to_backend_ += plain;
    }

    // Plaintext replies in; TLS records out to the client (held until the handshake is over).
    void FromBackend(const char* data, size_t size) {
        reply_.append(data == nullptr ? "" : data, size);
        if (!SSL_is_init_finished(ssl_.get())) return;
        if (!reply_.empty() && SSL_write(ssl_.get(), reply_.data(), int(reply_.size())) <= 0)
            return Finish();
        reply_.clear();
        FlushToClient();
    }

    void FlushToClient() {
        std::string out;
        char chunk[16 * 1024];
        int n;
        while ((n = BIO_read(out_, chunk, sizeof chunk)) > 0) out.append(chunk, size_t(n));
        if (!out.empty()) WriteOwned(client_.stream(), std::move(out));
    }

    void Finish() { front_->Drop(id_); }  // destroys this: nothing may follow

    TlsFront* front_;
    uint64_t id_;
    mega::UvHandle<uv_tcp_t> client_;
    mega::UvHandle<uv_tcp_t> backend_;
    std::unique_ptr<SSL, void (*)(SSL*)> ssl_;
    BIO* in_ = nullptr;   // owned by ssl_
    BIO* out_ = nullptr;  // owned by ssl_
    std::vector<char> buffer_;
    bool backend_connected_ = false;
    std::string to_backend_;  // plaintext from the client before the backend connected
    std::string reply_;       // plaintext from the backend not yet written into TLS
};

TlsFront::TlsFront(uv_loop_t* loop)
    : loop_(loop), listener_(loop, [](uv_loop_t* l, uv_tcp_t* t) { return uv_tcp_init(l, t); }) {
    listener_.get()->data = this;
}

TlsFront::~TlsFront() = default;

void TlsFront::Drop(uint64_t id) {
    sessions_.erase(id);
}

TlsSession* TlsFront::Find(uint64_t id) {
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second.get();
}

mega::Status TlsFront::Listen(const std::string& cert_file, const std::string& key_file,
                              const std::string& host, int port, int backend_port) {
    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    if (!ctx_) return mega::Status::IoError("TLS: SSL_CTX_new: " + OpenSslError());
    if (SSL_CTX_use_certificate_chain_file(ctx_.get(), cert_file.c_str()) != 1)
        return mega::Status::Invalid("TLS: certificate " + cert_file + ": " + OpenSslError());
    if (SSL_CTX_use_PrivateKey_file(ctx_.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx_.get()) != 1)
        return mega::Status::Invalid("TLS: key " + key_file + ": " + OpenSslError());
    backend_port_ = backend_port;
    sockaddr_storage addr{};
    if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
        uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0)
        return mega::Status::Invalid("TLS: bad host " + host);
    int rc = uv_tcp_bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), 0);
    if (rc == 0) rc = uv_listen(listener_.stream(), 1024, &TlsFront::OnConnection);
    if (rc != 0) return mega::Status::IoError(std::string("TLS listen: ") + uv_strerror(rc));
    int len = sizeof addr;
    uv_tcp_getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                       : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    return mega::Status::Ok();
}

void TlsFront::OnConnection(uv_stream_t* server, int status) {
    auto* self = static_cast<TlsFront*>(server->data);
    if (self == nullptr || status != 0) return;
    const uint64_t id = self->next_id_++;
    auto session = std::make_unique<TlsSession>(self, self->loop_, id, self->ctx_.get());
    TlsSession* raw = session.get();
    self->sessions_.emplace(id, std::move(session));
    if (!raw->Start(server, self->backend_port_)) self->Drop(id);
}

}  // namespace fakewechat
