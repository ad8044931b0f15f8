// The access_token cache: `POST /cgi-bin/stable_token` ([wechat] token_api = stable, the
// default: every caller gets the same token, so servers sharing the account do not
// invalidate each other) or classic `GET /cgi-bin/token`, with a blocking curl handle, one
// fetch at a time, refreshed 5 minutes (or 10% of its lifetime) before it expires. When
// WeChat rejects a stable token that a normal fetch returns again, one forced refresh is
// made (at most 20 a day, 30 s apart, as WeChat allows). The request carries the secret:
// it is never logged nor put in an error message.
#include "delivery/TokenCache.h"

#include <curl/curl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "base/Clock.h"
#include "protocol/JsonCheck.h"

namespace mega {
namespace {

constexpr int64_t kMinFetchIntervalMs = 1000;  // forced refreshes are rate-limited
constexpr int64_t kMaxBackoffMs = 60 * 1000;   // after repeated failed fetches
constexpr int kMaxMarginSeconds = 300;         // refresh this long before expires_in...
constexpr size_t kMaxReplyBytes = 64 * 1024;

struct CurlEasyDeleter {
    void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
struct CurlSlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

int64_t WallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Percent-encodes everything but RFC 3986 unreserved characters.
void AppendUrlEncoded(std::string* out, std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (unsigned char c : s) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            *out += char(c);
        } else {
            *out += '%';
            *out += kHex[c >> 4];
            *out += kHex[c & 15];
        }
    }
}

size_t AppendToString(char* data, size_t size, size_t n, void* user) {
    auto* body = static_cast<std::string*>(user);
    if (body->size() + size * n > kMaxReplyBytes) return 0;  // aborts the transfer
    body->append(data, size * n);
    return size * n;
}

// `text` with every occurrence of `secret` replaced, in case a reply echoes it.
std::string WithoutSecret(std::string text, const std::string& secret) {
    if (secret.empty()) return text;
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
        text.replace(at, secret.size(), "***");
    }
    return text;
}

}  // namespace

void EnsureCurlGlobalInit() {
    static const CURLcode once = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (once != CURLE_OK) spdlog::critical("curl_global_init failed: {}", curl_easy_strerror(once));
}

TokenCache::TokenCache(const Config& config)
    : config_(config), bases_(config.api_base, config.failover_healthy_s) {
    EnsureCurlGlobalInit();
}

TokenCache::TokenCache(const Config& config, std::string fixed_credential) : TokenCache(config) {
    fixed_ = true;
    token_ = std::move(fixed_credential);
    expires_at_ms_ = INT64_MAX;
    generation_.store(1, std::memory_order_release);
}

TokenCache::TokenCache(const Config& config, WecomGettoken) : TokenCache(config) {
    wecom_ = true;
}

Status TokenCache::Get(std::string* token, uint64_t* generation) {
    std::unique_lock lock(mu_);
    if (fixed_) {
        *token = token_;
        *generation = 1;
        return Status::Ok();
    }
    for (;;) {
        const int64_t now = SteadyMs();
        if (!token_.empty() && now < expires_at_ms_) {
            *token = token_;
            *generation = generation_.load(std::memory_order_relaxed);
            return Status::Ok();
        }
        if (fetching_) {
            cv_.wait(lock);
            continue;
        }
        if (now < retry_at_ms_) return last_error_;

        fetching_ = true;  // this thread fetches; the others wait on cv_
        const int64_t wait_ms = fetched_at_ms_ + kMinFetchIntervalMs - now;
        lock.unlock();
        if (wait_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
        std::string fresh;
        int64_t valid_ms = 0;
        Status s = shared_ ? FetchShared(&fresh, &valid_ms) : FetchOwn(&fresh, &valid_ms);
        lock.lock();
        if (s.ok()) rejected_.clear();

        fetching_ = false;
        fetched_at_ms_ = SteadyMs();
        if (s.ok()) {
            token_ = std::move(fresh);
            expires_at_ms_ = fetched_at_ms_ + valid_ms;
            failures_ = 0;
            retry_at_ms_ = 0;
            last_error_ = Status::Ok();
            refused_errcode_ = 0;
            generation_.fetch_add(1, std::memory_order_release);
            refreshes_.fetch_add(1, std::memory_order_relaxed);
        } else {
            ++failures_;
            const int64_t backoff =
                std::min(kMaxBackoffMs, int64_t(1000) << std::min(failures_ - 1, 6));
            retry_at_ms_ = fetched_at_ms_ + backoff;
            last_error_ = s;
            refused_errcode_ = s.code() == Status::Code::kInvalid ? fetch_errcode_ : 0;
            spdlog::warn("access_token fetch failed ({} in a row, next try in {} ms): {}",
                         failures_, backoff, s.message());
        }
        cv_.notify_all();
        if (!s.ok()) return s;
        *token = token_;
        *generation = generation_.load(std::memory_order_relaxed);
        return Status::Ok();
    }
}

Status TokenCache::FetchOwn(std::string* token, int64_t* valid_ms) {
    int expires_in = 0;
    Status s = Fetch(false, token, &expires_in);
    // A base that cannot be reached was switched away from: try the next ones at once.
    for (size_t i = 1; !s.ok() && transport_failed_ && i < config_.api_base.size(); i++)
        s = Fetch(false, token, &expires_in);
    if (s.ok() && config_.stable_token && !wecom_ && !rejected_.empty() && *token == rejected_) {
        // The stable endpoint handed back the token WeChat just rejected.
        bool may = false;
        {
            std::lock_guard lock(mu_);
            may = MayForceRefresh(WallMs());
        }
        if (may) {
            spdlog::warn("access_token: forcing a stable_token refresh");
            s = Fetch(true, token, &expires_in);
        }
    }
    const int margin = std::min(kMaxMarginSeconds, expires_in / 10);
    *valid_ms = int64_t(expires_in - margin) * 1000;
    return s;
}

void TokenCache::ShareThrough(SharedTokens* shared, std::string account) {
    std::lock_guard lock(mu_);
    if (fixed_) return;
    shared_ = shared;
    account_ = std::move(account);
}

Status TokenCache::FetchShared(std::string* token, int64_t* valid_ms) {
    // The lock outlives a fetch and its forced retry; a node that dies holding it only
    // delays the others until it expires.
    const int64_t lock_ms = 2 * int64_t(config_.http_timeout_ms) + 5000;
    const int64_t deadline = SteadyMs() + lock_ms;
    auto kept = [&] {
        int64_t until = 0;
        if (!shared_->Load(account_, token, &until).ok() || *token == rejected_) return false;
        *valid_ms = until - WallMs();
        return true;
    };
    for (;;) {
        if (kept()) return Status::Ok();
        bool got = false;
        if (!shared_->Lock(account_, lock_ms, &got).ok()) break;
        if (got) {
            if (kept()) {  // kept by another node between the load and the lock
                shared_->Unlock(account_);
                return Status::Ok();
            }
            Status s = FetchOwn(token, valid_ms);
            if (s.ok())
                (void)shared_->Store(account_, *token, WallMs() + *valid_ms);
            else
                shared_->Unlock(account_);
            return s;
        }
        if (SteadyMs() >= deadline)
            return Status::Unavailable("access_token: another node is fetching it");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // its fetch ends soon
    }
    spdlog::warn("access_token: the token store (redis) cannot be reached: fetched here alone");
    return FetchOwn(token, valid_ms);
}

std::string TokenCache::LastError() {
    std::lock_guard lock(mu_);
    return last_error_.ok() ? std::string() : last_error_.message();
}

int TokenCache::RefusedErrcode() {
    std::lock_guard lock(mu_);
    return refused_errcode_;
}

bool TokenCache::MayForceRefresh(int64_t now_ms) {
    const int64_t day = (now_ms + 8 * 3600000) / 86400000;  // WeChat's day: UTC+8
    if (day != forced_day_) {
        forced_day_ = day;
        forced_today_ = 0;
    }
    if (forced_today_ >= 20 || now_ms - forced_at_ms_ < 30000) return false;
    forced_today_++;
    forced_at_ms_ = now_ms;
    return true;
}

void TokenCache::Invalidate(uint64_t generation) {
    std::lock_guard lock(mu_);
    if (fixed_ || generation != generation_.load(std::memory_order_relaxed) || expires_at_ms_ == 0)
        return;
    expires_at_ms_ = 0;
    rejected_ = token_;
    spdlog::info("access_token generation {} rejected by WeChat: refreshing", generation);
}

Status TokenCache::Fetch(bool force_refresh, std::string* token, int* expires_in) {
    const uint64_t epoch = bases_.epoch();
    const std::string& base = bases_.Url(epoch);
    transport_failed_ = false;
    CurlEasy easy(curl_easy_init());
    if (!easy) return Status::Unavailable("curl_easy_init failed");

    std::string url, request;
    const bool stable = config_.stable_token && !wecom_;
    if (wecom_) {
        url = base + "/cgi-bin/gettoken?corpid=";
        AppendUrlEncoded(&url, config_.app_id);
        url += "&corpsecret=";
        AppendUrlEncoded(&url, config_.app_secret);
    } else if (stable) {
        url = base + "/cgi-bin/stable_token";
        rapidjson::StringBuffer sb;
        rapidjson::Writer<rapidjson::StringBuffer> w(sb);
        w.StartObject();
        w.Key("grant_type");
        w.String("client_credential");
        w.Key("appid");
        w.String(config_.app_id.c_str());
        w.Key("secret");
        w.String(config_.app_secret.c_str());
        w.Key("force_refresh");
        w.Bool(force_refresh);
        w.EndObject();
        request.assign(sb.GetString(), sb.GetSize());
    } else {
        url = base + "/cgi-bin/token?grant_type=client_credential&appid=";
        AppendUrlEncoded(&url, config_.app_id);
        url += "&secret=";
        AppendUrlEncoded(&url, config_.app_secret);
    }
    std::string body;
    CURL* h = easy.get();
    CurlSlist headers(curl_slist_append(nullptr, "Content-Type: application/json"));
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    if (stable) {
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, long(request.size()));
    }
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, long(config_.http_timeout_ms));
    if (!config_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, config_.ca_file.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &AppendToString);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    const CURLcode rc = curl_easy_perform(h);
    std::fill(url.begin(), url.end(), '\0');  // do not leave the secret in freed memory
    std::fill(request.begin(), request.end(), '\0');

    // Messages name the base only: the URL holds the secret.
    if (rc != CURLE_OK) {
        bases_.ReportFailure(epoch, curl_easy_strerror(rc));
        transport_failed_ = true;
        return Status::Unavailable("access_token request to " + base +
                                   " failed: " + curl_easy_strerror(rc));
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        return Status::Unavailable("access_token request to " + base + ": HTTP " +
                                   std::to_string(status));
    }

    rapidjson::Document doc;
    if (protocol::JsonDepthWithin(body)) doc.Parse(body.data(), body.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        return Status::Unavailable("access_token reply from " + base + " is not JSON");
    }
    const auto errcode = doc.FindMember("errcode");
    if (errcode != doc.MemberEnd() && errcode->value.IsInt() && errcode->value.GetInt() != 0) {
        const int code = errcode->value.GetInt();
        fetch_errcode_ = code;
        const auto errmsg = doc.FindMember("errmsg");
        std::string msg =
            "WeChat refused the access_token request: errcode " + std::to_string(code);
        if (errmsg != doc.MemberEnd() && errmsg->value.IsString()) {
            msg += " (" + WithoutSecret(errmsg->value.GetString(), config_.app_secret) + ")";
        }
        // -1 is "system busy": try again later; anything else is about the credentials.
        return code == -1 ? Status::Unavailable(std::move(msg)) : Status::Invalid(std::move(msg));
    }
    const auto tok = doc.FindMember("access_token");
    const auto exp = doc.FindMember("expires_in");
    if (tok == doc.MemberEnd() || !tok->value.IsString() || tok->value.GetStringLength() == 0 ||
        exp == doc.MemberEnd() || !exp->value.IsInt() || exp->value.GetInt() <= 0) {
        return Status::Unavailable("access_token reply from " + base +
                                   " lacks access_token/expires_in");
    }
    token->assign(tok->value.GetString(), tok->value.GetStringLength());
    *expires_in = exp->value.GetInt();
    return Status::Ok();
}

}  // namespace mega
