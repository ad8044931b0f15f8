// The delivery engine's threads. Each sender thread owns a curl multi handle and a fixed set
// of transfer slots (an easy handle with its request/response buffers, reused for every
// message); it renders, posts, classifies and retries token failures itself. Jobs come in
// and results go out in batches: one lock per batch each way, an eventfd in, a uv_async out.
// curl runs through its socket interface on the thread's own epoll: a wake-up costs only the
// sockets that are ready, not a poll() over every transfer (curl_multi_poll would scan all
// max_inflight sockets per wake-up).
#include "delivery/SenderPool.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "base/UniqueFd.h"
#include "protocol/JsonCheck.h"

namespace mega {
namespace {

constexpr size_t kMaxReplyBytes = 64 * 1024;     // a WeChat reply is < 200 bytes
constexpr long kReceiveBufferBytes = 4096;       // per easy handle (curl's default is 16 KiB)
constexpr int64_t kTokenRecheckUs = 60'000'000;  // ask TokenCache again at least this often
constexpr int kIdlePollMs = 1000;
constexpr int kSenderNice = 5;  // sender threads' niceness, above the loop thread's 0

struct CurlEasyDeleter {
    void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct CurlMultiDeleter {
    void operator()(CURLM* h) const { curl_multi_cleanup(h); }
};
struct CurlSlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMulti = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

int64_t NowUs() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

size_t AppendToString(char* data, size_t size, size_t n, void* user) {
    auto* body = static_cast<std::string*>(user);
    if (body->size() + size * n > kMaxReplyBytes) return 0;  // aborts the transfer
    body->append(data, size * n);
    return size * n;
}

// Appends {"errcode":N,"errmsg":"MSG"} for an error found locally (no token in it).
void AppendLocalReply(std::string* out, int errcode, std::string_view msg) {
    char code[16];
    const int n = std::snprintf(code, sizeof code, "%d", errcode);
    out->append("{\"errcode\":").append(code, size_t(n)).append(",\"errmsg\":\"");
    for (char c : msg) {
        if (c == '"' || c == '\\') *out += '\\';
        *out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
    }
    out->append("\"}");
}

// Where sender threads leave results for the loop thread, and where the loop thread puts
// the reply buffers back for reuse.
struct ResultMailbox {
    std::mutex mu;
    std::vector<DeliveryResult> results;
    std::vector<std::string> replies;  // recycled DeliveryResult::reply buffers
    uv_async_t* async = nullptr;
};

// What a sender thread keeps per (account, channel): the token it last got from the account's
// cache, the URL built from it, and the channel's reply reader.
struct Route {
    TokenCache* tokens = nullptr;
    const Channel* channel = nullptr;
    std::unique_ptr<ReplyReader> reader;
    std::string token, url, token_error;
    uint64_t token_generation = 0, url_generation = 0;
    uint64_t url_token = 0, url_epoch = ~uint64_t(0);  // what url was built from
    int64_t token_recheck_us = 0;
};

// One transfer: a kept-alive easy handle and the buffers it reuses message after message.
struct Slot {
    CurlEasy easy;
    std::string body, response;
    DeliveryJob job;
    Route* route = nullptr;            // of this attempt
    uint64_t token_generation = 0;     // of the token in the URL of this attempt
    const Route* url_route = nullptr;  // whose URL is set on `easy` (null: none yet)
    uint64_t url_generation = 0;       // of that URL
    uint64_t base_epoch = 0;           // ApiBases epoch of that URL
    bool token_retried = false;
    bool busy = false;
    CurlSlist own_headers;  // the shared headers plus the request's own (null: shared only)
    int64_t started_us = 0;
};

// A sender thread: takes jobs, runs up to max_inflight transfers with one curl multi
// handle, classifies the replies and posts results to the mailbox.
class SenderThread {
  public:
    SenderThread(const Config& config, TokenCache* tokens, const Channel* channel,
                 ResultMailbox* mailbox, size_t slot_count)
        : config_(config),
          tokens_(tokens),
          channel_(channel),
          mailbox_(mailbox),
          slot_count_(slot_count) {
        multi_.reset(curl_multi_init());
        headers_.reset(curl_slist_append(nullptr, "Content-Type: application/json"));
        // No "Expect: 100-continue" on bodies over 1 KiB (a wasted round trip).
        curl_slist* with_expect = curl_slist_append(headers_.get(), "Expect:");
        if (!multi_ || !headers_ || !with_expect) {
            Fail("curl init failed");
            return;
        }
        curl_multi_setopt(multi_.get(), CURLMOPT_MAX_HOST_CONNECTIONS, long(slot_count_));
        curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, long(slot_count_));
        epoll_.Reset(::epoll_create1(EPOLL_CLOEXEC));
        wake_.Reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (!epoll_ || !wake_) {
            Fail("epoll/eventfd init failed");
            return;
        }
        epoll_event wake_event{};
        wake_event.events = EPOLLIN;
        wake_event.data.fd = wake_.get();
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &wake_event) != 0) {
            Fail("epoll_ctl failed");
            return;
        }
        curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETFUNCTION, &SenderThread::OnCurlSocket);
        curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETDATA, this);
        curl_multi_setopt(multi_.get(), CURLMOPT_TIMERFUNCTION, &SenderThread::OnCurlTimer);
        curl_multi_setopt(multi_.get(), CURLMOPT_TIMERDATA, this);

        slots_ = std::make_unique<Slot[]>(slot_count_);
        free_slots_.reserve(slot_count_);
        for (size_t i = 0; i < slot_count_; ++i) {
            Slot& s = slots_[i];
            s.easy.reset(curl_easy_init());
            if (!s.easy) {
                Fail("curl_easy_init failed");
                return;
            }
            CURL* h = s.easy.get();
            curl_easy_setopt(h, CURLOPT_PRIVATE, &s);
            curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
            curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
            curl_easy_setopt(h, CURLOPT_HTTP_VERSION, long(CURL_HTTP_VERSION_1_1));
            curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, long(config.http_timeout_ms));
            if (!config.ca_file.empty())
                curl_easy_setopt(h, CURLOPT_CAINFO, config.ca_file.c_str());
            curl_easy_setopt(h, CURLOPT_BUFFERSIZE, kReceiveBufferBytes);
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers_.get());
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &AppendToString);
            curl_easy_setopt(h, CURLOPT_WRITEDATA, &s.response);
            free_slots_.push_back(&s);
        }
        done_.reserve(slot_count_);
        spare_replies_.reserve(slot_count_);
    }

    ~SenderThread() {
        if (thread_.joinable()) thread_.join();
    }

    // Why the constructor could not set the thread up (out of descriptors or memory); a
    // thread that is not ok is never started.
    const Status& init_status() const { return init_status_; }

    void Start() {
        thread_ = std::thread([this] { Run(); });
    }

    // Loop thread: hands over a batch of jobs (the vector is left empty).
    void Post(std::vector<DeliveryJob>* jobs) {
        outstanding_.fetch_add(int64_t(jobs->size()), std::memory_order_relaxed);
        {
            std::lock_guard lock(mu_);
            if (incoming_.empty()) {
                incoming_.swap(*jobs);
            } else {
                incoming_.insert(incoming_.end(), std::make_move_iterator(jobs->begin()),
                                 std::make_move_iterator(jobs->end()));
            }
        }
        jobs->clear();
        Wake();
    }

    // Jobs posted whose results have not been posted back yet.
    int64_t outstanding() const { return outstanding_.load(std::memory_order_relaxed); }

    void RequestStop(int64_t deadline_us) {
        {
            std::lock_guard lock(mu_);
            stop_requested_ = true;
            stop_deadline_us_ = deadline_us;
        }
        Wake();
    }

    void Join() {
        if (thread_.joinable()) thread_.join();
    }

  private:
    void Run() {
        // Below the loop thread: under load the kernel gives intake the larger share.
        (void)::setpriority(PRIO_PROCESS, pid_t(::gettid()), kSenderNice);
        epoll_event events[64];
        for (;;) {
            TakeJobs();
            if (stopping_) FailBacklog();
            StartJobs();
            if (timer_due_us_ >= 0 && NowUs() >= timer_due_us_) {
                timer_due_us_ = -1;
                int running = 0;
                curl_multi_socket_action(multi_.get(), CURL_SOCKET_TIMEOUT, 0, &running);
            }
            Harvest();
            Flush();
            int64_t wait_us = int64_t(kIdlePollMs) * 1000;
            if (stopping_) {
                if (free_slots_.size() == slot_count_) break;
                const int64_t left_us = deadline_us_ - NowUs();
                if (left_us <= 0) {
                    AbortTransfers();
                    Flush();
                    break;
                }
                wait_us = std::min(wait_us, left_us);
            }
            // Slots freed by Harvest while jobs wait: start them before sleeping.
            if (!free_slots_.empty() && backlog_head_ < backlog_.size()) continue;
            if (timer_due_us_ >= 0) wait_us = std::min(wait_us, timer_due_us_ - NowUs());
            const int wait_ms = wait_us <= 0 ? 0 : int((wait_us + 999) / 1000);
            const int n = ::epoll_wait(epoll_.get(), events, 64, wait_ms);
            for (int i = 0; i < n; ++i) {
                const int fd = events[i].data.fd;
                if (fd == wake_.get()) {
                    uint64_t count;
                    while (::read(fd, &count, sizeof count) > 0) {
                    }
                    continue;
                }
                const uint32_t ev = events[i].events;
                const int flags = ((ev & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                                  ((ev & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                                  ((ev & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
                int running = 0;
                curl_multi_socket_action(multi_.get(), fd, flags, &running);
            }
        }
    }

    void Wake() {
        const uint64_t one = 1;
        (void)!::write(wake_.get(), &one, sizeof one);
    }

    // curl: watch `s` for `what` (CURL_POLL_*) on this thread's epoll, or stop watching it.
    static int OnCurlSocket(CURL*, curl_socket_t s, int what, void* userp, void* socketp) {
        auto* self = static_cast<SenderThread*>(userp);
        if (what == CURL_POLL_REMOVE) {
            ::epoll_ctl(self->epoll_.get(), EPOLL_CTL_DEL, s, nullptr);
            return 0;
        }
        epoll_event e{};
        e.events =
            ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
        e.data.fd = s;
        // A descriptor number curl closed and reopened may still be registered: retry the
        // other operation when the kernel disagrees.
        const int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (::epoll_ctl(self->epoll_.get(), op, s, &e) != 0) {
            const int other = op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
            if (::epoll_ctl(self->epoll_.get(), other, s, &e) != 0) return -1;
        }
        if (!socketp) curl_multi_assign(self->multi_.get(), s, self);
        return 0;
    }

    // curl: call socket_action(TIMEOUT) in `timeout_ms` (-1: no timer).
    static int OnCurlTimer(CURLM*, long timeout_ms, void* userp) {
        auto* self = static_cast<SenderThread*>(userp);
        self->timer_due_us_ = timeout_ms < 0 ? -1 : NowUs() + int64_t(timeout_ms) * 1000;
        return 0;
    }

    void TakeJobs() {
        std::lock_guard lock(mu_);
        if (stop_requested_) {
            stopping_ = true;
            deadline_us_ = stop_deadline_us_;
        }
        if (incoming_.empty()) return;
        if (backlog_head_ == backlog_.size()) {
            backlog_.clear();
            backlog_head_ = 0;
            backlog_.swap(incoming_);
        } else {
            backlog_.insert(backlog_.end(), std::make_move_iterator(incoming_.begin()),
                            std::make_move_iterator(incoming_.end()));
            incoming_.clear();
        }
    }

    void StartJobs() {
        while (!free_slots_.empty() && backlog_head_ < backlog_.size()) {
            Slot* slot = free_slots_.back();
            free_slots_.pop_back();
            if (!Begin(slot, std::move(backlog_[backlog_head_++]))) free_slots_.push_back(slot);
        }
        if (backlog_head_ == backlog_.size()) {
            backlog_.clear();
            backlog_head_ = 0;
        }
    }

    // Renders the job into the slot and starts its transfer; false if it ended at once
    // (its result is already recorded) and the slot is still free.
    bool Begin(Slot* slot, DeliveryJob job) {
        slot->job = std::move(job);
        slot->body.clear();
        const DeliveryJob& j = slot->job;
        if (!j.tmpl) {
            LocalResult(j, Outcome::kPermanent, 47001, "local: no template");
            slot->job = {};
            return false;
        }
        Route& route = RouteFor(j);
        const Status rendered = route.channel->Render(j, &slot->body, &scratch_);
        if (!rendered.ok()) {
            LocalResult(j, Outcome::kPermanent, 47001, "local: " + rendered.message());
            slot->job = {};
            return false;
        }
        if (!RefreshToken(route)) {
            NoTokenResult(route, j);
            slot->job = {};
            return false;
        }
        if (!SetHeaders(slot, route)) {
            LocalResult(j, Outcome::kTransient, kErrcodeTransport, "curl_slist_append failed");
            slot->job = {};
            return false;
        }
        slot->route = &route;
        slot->token_generation = route.token_generation;
        slot->token_retried = false;
        return Launch(slot);
    }

    // The slot's request headers: the shared ones, plus the request's own if its channel
    // has any (a signature over the body). False when out of memory.
    bool SetHeaders(Slot* slot, const Route& route) {
        header_lines_.clear();
        route.channel->AppendHeaders(slot->body, &header_lines_);
        CURL* h = slot->easy.get();
        if (header_lines_.empty()) {
            if (slot->own_headers) curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers_.get());
            slot->own_headers.reset();
            return true;
        }
        CurlSlist list;
        for (const char* line : {"Content-Type: application/json", "Expect:"}) {
            curl_slist* more = curl_slist_append(list.get(), line);
            if (!more) return false;
            if (!list) list.reset(more);
        }
        for (const std::string& line : header_lines_)
            if (!curl_slist_append(list.get(), line.c_str())) return false;
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
        slot->own_headers = std::move(list);  // after setopt: the old list is no longer used
        return true;
    }

    // The route of the job's account and channel (the pool's own when the job names none).
    Route& RouteFor(const DeliveryJob& job) {
        TokenCache* tokens = job.tokens ? job.tokens : tokens_;
        const Channel* channel = job.channel ? job.channel : channel_;
        for (auto& r : routes_)
            if (r->tokens == tokens && r->channel == channel) return *r;
        auto& r = routes_.emplace_back(std::make_unique<Route>());
        r->tokens = tokens;
        r->channel = channel;
        r->reader = channel->NewReplyReader();
        return *r;
    }

    // Keeps this thread's copy of the route's token current; false (token_error set) if
    // there is none. The hot path is one atomic load and a clock read (plus the base's epoch).
    bool RefreshToken(Route& r) {
        const int64_t now = NowUs();
        if (r.token_generation == 0 || r.tokens->generation() != r.token_generation ||
            now >= r.token_recheck_us) {
            const Status s = r.tokens->Get(&r.token, &r.token_generation);
            if (!s.ok()) {
                r.token_error = s.message();
                r.token_recheck_us = 0;
                return false;
            }
            r.token_recheck_us = now + kTokenRecheckUs;
        }
        // The only place the URL is rebuilt: a new token, or a new base (failover, or back
        // to the first after a healthy spell).
        const uint64_t epoch = r.tokens->bases().epoch();
        if (r.url_token != r.token_generation || r.url_epoch != epoch) {
            r.url.clear();
            r.channel->AppendUrl(r.tokens->bases().Url(epoch), r.token, &r.url);
            r.url_token = r.token_generation;
            r.url_epoch = epoch;
            r.url_generation++;
        }
        return true;
    }

    bool Launch(Slot* slot) {
        CURL* h = slot->easy.get();
        const Route& route = *slot->route;
        if (slot->url_route != &route || slot->url_generation != route.url_generation) {
            curl_easy_setopt(h, CURLOPT_URL, route.url.c_str());  // curl copies it
            slot->url_route = &route;
            slot->url_generation = route.url_generation;
        }
        slot->base_epoch = route.url_epoch;
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, long(slot->body.size()));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, slot->body.data());  // not copied
        slot->response.clear();
        slot->started_us = NowUs();
        const CURLMcode rc = curl_multi_add_handle(multi_.get(), h);
        if (rc != CURLM_OK) {
            LocalResult(slot->job, Outcome::kTransient, kErrcodeTransport, curl_multi_strerror(rc));
            slot->job = {};
            return false;
        }
        slot->busy = true;
        return true;
    }

    void Harvest() {
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL* h = msg->easy_handle;
            const CURLcode rc = msg->data.result;  // msg is invalid once the handle is removed
            void* slot = nullptr;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, &slot);
            curl_multi_remove_handle(multi_.get(), h);
            Complete(static_cast<Slot*>(slot), rc);
        }
    }

    void Complete(Slot* slot, CURLcode rc) {
        slot->busy = false;
        bool transport_ok = rc == CURLE_OK;
        long http_status = 0;
        ChannelReply reply;
        Route& route = *slot->route;
        if (transport_ok) {
            curl_easy_getinfo(slot->easy.get(), CURLINFO_RESPONSE_CODE, &http_status);
            reply = route.reader->Read(slot->response);
        }
        if (!transport_ok && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                              rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_GOT_NOTHING ||
                              rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR)) {
            route.tokens->bases().ReportFailure(slot->base_epoch, curl_easy_strerror(rc));
        }
        const bool understood = transport_ok && reply.understood;
        const int errcode = !transport_ok ? kErrcodeTransport
                            : understood  ? reply.errcode
                                          : kErrcodeBadReply;
        const Outcome outcome = route.channel->Classify(transport_ok, http_status, errcode);

        if (outcome == Outcome::kToken && !slot->token_retried) {
            // Expire the token this attempt used (if nobody did yet), get a fresh one and
            // try once more with the same body.
            slot->token_retried = true;
            route.tokens->Invalidate(slot->token_generation);
            route.token_recheck_us = 0;
            if (RefreshToken(route)) {
                slot->token_generation = route.token_generation;
                if (Launch(slot)) return;
            } else {
                NoTokenResult(route, slot->job);
            }
            Release(slot);
            return;
        }

        DeliveryResult& r = NewResult(slot->job);
        r.outcome = outcome;
        r.transport_ok = transport_ok;
        r.http_status = http_status;
        r.errcode = errcode;
        r.msgid = reply.msgid;
        r.remote_msgid = std::move(reply.remote_msgid);
        r.note = std::move(reply.note);
        r.base_index = uint32_t(route.tokens->bases().Index(slot->base_epoch));
        r.latency_us = uint32_t(std::min<int64_t>(NowUs() - slot->started_us, UINT32_MAX));
        if (understood) {
            r.reply.assign(slot->response);
        } else if (!transport_ok) {
            AppendLocalReply(&r.reply, errcode,
                             rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : curl_easy_strerror(rc));
        } else {
            char text[64];
            const int n =
                std::snprintf(text, sizeof text, "HTTP %ld, not a WeChat reply", http_status);
            AppendLocalReply(&r.reply, errcode, std::string_view(text, size_t(n)));
        }
        Release(slot);
    }

    void Release(Slot* slot) {
        slot->job = {};
        free_slots_.push_back(slot);
    }

    DeliveryResult& NewResult(const DeliveryJob& job) {
        DeliveryResult& r = done_.emplace_back();
        r.id = job.id;
        r.tag = job.tag;
        r.flight = job.flight;
        if (!spare_replies_.empty()) {
            r.reply = std::move(spare_replies_.back());
            spare_replies_.pop_back();
            r.reply.clear();
        }
        return r;
    }

    void LocalResult(const DeliveryJob& job, Outcome outcome, int errcode, std::string_view msg) {
        DeliveryResult& r = NewResult(job);
        r.outcome = outcome;
        r.errcode = errcode;
        AppendLocalReply(&r.reply, errcode, msg);
    }

    // No access_token: the message waits (kErrcodeNoToken). When WeChat refused the
    // credentials, the reply carries its errcode and credentials_refused is set, so that a
    // `send` client can be told at once.
    void NoTokenResult(Route& route, const DeliveryJob& job) {
        const int refused = route.tokens->RefusedErrcode();
        DeliveryResult& r = NewResult(job);
        r.outcome = Outcome::kTransient;
        r.errcode = kErrcodeNoToken;
        r.credentials_refused = refused != 0;
        AppendLocalReply(&r.reply, refused != 0 ? refused : kErrcodeNoToken, route.token_error);
    }

    // Stopping: jobs not started yet go back unsent.
    void FailBacklog() {
        for (; backlog_head_ < backlog_.size(); ++backlog_head_) {
            LocalResult(backlog_[backlog_head_], Outcome::kTransient, kErrcodeNotSent,
                        "not sent: server stopping");
        }
        backlog_.clear();
        backlog_head_ = 0;
    }

    void AbortTransfers() {
        for (size_t i = 0; i < slot_count_; ++i) {
            Slot& s = slots_[i];
            if (!s.busy) continue;
            curl_multi_remove_handle(multi_.get(), s.easy.get());
            s.busy = false;
            LocalResult(s.job, Outcome::kTransient, kErrcodeTransport, "aborted: server stopping");
            Release(&s);
        }
    }

    // Hands this round's results to the loop thread: one lock, one wakeup.
    void Flush() {
        if (done_.empty()) return;
        const auto n = int64_t(done_.size());
        {
            std::lock_guard lock(mailbox_->mu);
            auto& results = mailbox_->results;
            results.insert(results.end(), std::make_move_iterator(done_.begin()),
                           std::make_move_iterator(done_.end()));
            auto& pool = mailbox_->replies;
            while (spare_replies_.size() < slot_count_ && !pool.empty()) {
                spare_replies_.push_back(std::move(pool.back()));
                pool.pop_back();
            }
        }
        done_.clear();
        outstanding_.fetch_sub(n, std::memory_order_relaxed);
        uv_async_send(mailbox_->async);
    }

    const Config& config_;
    TokenCache* const tokens_;
    const Channel* const channel_;
    std::vector<std::unique_ptr<Route>> routes_;  // per (account, channel); never shrinks
    std::vector<std::string> header_lines_;       // a request's own headers, reused
    ResultMailbox* const mailbox_;
    const size_t slot_count_;

    // Shared with the loop thread.
    std::mutex mu_;
    std::vector<DeliveryJob> incoming_;
    bool stop_requested_ = false;
    int64_t stop_deadline_us_ = 0;
    std::atomic<int64_t> outstanding_{0};

    // This thread's own. Slots outlive the multi handle (declared before it).
    std::unique_ptr<Slot[]> slots_;
    CurlSlist headers_;
    UniqueFd epoll_, wake_;  // before multi_: curl's cleanup may still report sockets
    CurlMulti multi_;
    int64_t timer_due_us_ = -1;  // when curl wants socket_action(TIMEOUT); -1: never
    std::vector<Slot*> free_slots_;
    std::vector<DeliveryJob> backlog_;
    size_t backlog_head_ = 0;
    std::vector<DeliveryResult> done_;
    std::vector<std::string> spare_replies_;
    bool stopping_ = false;
    int64_t deadline_us_ = 0;  // stop_deadline_us_, read under mu_ by TakeJobs
    Template::Scratch scratch_;
    Status init_status_;
    std::thread thread_;

    void Fail(const char* what) { init_status_ = Status::Unavailable(what); }
};

}  // namespace

SenderLayout PlanSenderThreads(const Config& config, unsigned cores) {
    SenderLayout layout;
    const int wanted = config.sender_threads > 0 ? config.sender_threads
                                                 : std::min(config.task_worker_num, int(cores));
    layout.threads = std::max(1, wanted);
    const size_t total =
        size_t(std::max(1, config.task_worker_num)) * size_t(std::max(1, config.max_inflight));
    layout.slots_per_thread = (total + size_t(layout.threads) - 1) / size_t(layout.threads);
    return layout;
}

struct SenderPool::Impl {
    Impl(uv_loop_t* loop, const Config& config, TokenCache* tokens, const Channel* channel,
         ResultsCallback cb)
        : on_results(std::move(cb)), async(std::make_unique<uv_async_t>()) {
        EnsureCurlGlobalInit();  // before any thread touches curl
        const int rc = uv_async_init(loop, async.get(), &Impl::OnAsync);
        if (rc != 0) {
            status = Status::Unavailable(std::string("uv_async_init: ") + uv_strerror(rc));
            async.reset();
            return;
        }
        async->data = this;
        const SenderLayout layout = PlanSenderThreads(config, std::thread::hardware_concurrency());
        for (int i = 0; i < layout.threads && status.ok(); ++i) {
            threads.push_back(std::make_unique<SenderThread>(config, tokens, channel, &mailbox,
                                                             layout.slots_per_thread));
            status = threads.back()->init_status();
        }
        if (!status.ok()) {
            threads.clear();  // none was started
            return;
        }
        mailbox.async = async.get();
        staged.resize(threads.size());
        loads.resize(threads.size());
        capacity = threads.size() * layout.slots_per_thread;
        for (auto& t : threads) t->Start();
    }

    static constexpr size_t kInlineCapacity = 15;  // a std::string this small has no heap buffer

    static void OnAsync(uv_async_t* handle) { static_cast<Impl*>(handle->data)->Deliver(); }

    // Loop thread: hands every result waiting in the mailbox to on_results, then recycles
    // the reply buffers the callback left in place.
    void Deliver() {
        std::vector<DeliveryResult> nested;  // only used if on_results re-enters Deliver
        std::vector<DeliveryResult>& batch = delivering_busy ? nested : delivering;
        {
            std::lock_guard lock(mailbox.mu);
            if (mailbox.results.empty()) return;
            batch.swap(mailbox.results);
        }
        inflight.fetch_sub(batch.size(), std::memory_order_relaxed);
        const bool outer = !delivering_busy;
        delivering_busy = true;
        on_results(batch);
        if (outer) delivering_busy = false;
        for (DeliveryResult& r : batch) {
            if (r.reply.capacity() > kInlineCapacity) recycled.push_back(std::move(r.reply));
        }
        batch.clear();
        std::lock_guard lock(mailbox.mu);
        for (std::string& s : recycled) {
            if (mailbox.replies.size() >= capacity) break;
            mailbox.replies.push_back(std::move(s));
        }
        recycled.clear();
    }

    ResultsCallback on_results;
    std::unique_ptr<uv_async_t> async;  // released to uv_close's callback by Stop
    ResultMailbox mailbox;
    std::vector<std::unique_ptr<SenderThread>> threads;
    std::vector<std::vector<DeliveryJob>> staged;  // Submit's per-thread batches, reused
    std::vector<int64_t> loads;
    std::vector<DeliveryResult> delivering;
    std::vector<std::string> recycled;
    bool delivering_busy = false;
    std::atomic<size_t> inflight{0};
    size_t capacity = 0;
    bool stopped = false;
    Status status;  // not ok: the threads could not be set up; the pool sends nothing
};

SenderPool::SenderPool(uv_loop_t* loop, const Config& config, TokenCache* tokens,
                       const Channel* channel, ResultsCallback on_results)
    : impl_(std::make_unique<Impl>(loop, config, tokens, channel, std::move(on_results))) {}

void SenderPool::SetResultsCallback(ResultsCallback on_results) {
    impl_->on_results = std::move(on_results);
}

SenderPool::~SenderPool() {
    if (!impl_->stopped) Stop(0);
}

const Status& SenderPool::status() const {
    return impl_->status;
}

void SenderPool::Submit(std::vector<DeliveryJob>* jobs) {
    if (jobs->empty()) return;
    Impl& p = *impl_;
    if (p.stopped || !p.status.ok()) {  // refused: returned at once as not sent
        spdlog::warn("SenderPool: {} jobs submitted after Stop, returned unsent", jobs->size());
        std::vector<DeliveryResult> refused(jobs->size());
        for (size_t i = 0; i < jobs->size(); ++i) {
            refused[i].id = (*jobs)[i].id;
            refused[i].tag = (*jobs)[i].tag;
            refused[i].flight = (*jobs)[i].flight;
            refused[i].outcome = Outcome::kTransient;
            refused[i].errcode = kErrcodeNotSent;
            AppendLocalReply(&refused[i].reply, kErrcodeNotSent, "not sent: server stopping");
        }
        jobs->clear();
        p.on_results(refused);
        return;
    }
    p.inflight.fetch_add(jobs->size(), std::memory_order_relaxed);
    for (size_t i = 0; i < p.threads.size(); ++i) p.loads[i] = p.threads[i]->outstanding();
    for (DeliveryJob& job : *jobs) {  // each to the least loaded thread
        const size_t t = size_t(std::min_element(p.loads.begin(), p.loads.end()) - p.loads.begin());
        p.staged[t].push_back(std::move(job));
        ++p.loads[t];
    }
    jobs->clear();
    for (size_t i = 0; i < p.threads.size(); ++i) {
        if (!p.staged[i].empty()) p.threads[i]->Post(&p.staged[i]);
    }
}

size_t SenderPool::capacity() const {
    return impl_->capacity;
}

size_t SenderPool::inflight() const {
    return impl_->inflight.load(std::memory_order_relaxed);
}

void SenderPool::Stop(int timeout_ms) {
    Impl& p = *impl_;
    if (p.stopped) return;
    p.stopped = true;
    const int64_t deadline = NowUs() + int64_t(std::max(0, timeout_ms)) * 1000;
    for (auto& t : p.threads) t->RequestStop(deadline);
    for (auto& t : p.threads) t->Join();
    // The loop frees the handle when it next runs (uv_close completes on the loop).
    if (p.async)
        uv_close(reinterpret_cast<uv_handle_t*>(p.async.release()), [](uv_handle_t* h) {
            std::unique_ptr<uv_async_t> owned(reinterpret_cast<uv_async_t*>(h));
        });
    p.mailbox.async = nullptr;
    p.Deliver();  // what the threads posted last, on this (the loop) thread
}

}  // namespace mega
