// CallbackLane: the journal is touched only by the lane's thread; Add() and Counts() meet it
// under one mutex. One curl easy handle per lane (kept-alive connection to its URL).
#include "callbacks/CallbackLane.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include "base/Clock.h"
#include "callbacks/CallbackEvent.h"

namespace mega {
namespace {

constexpr size_t kRecentFailures = 20;
constexpr long kTimeoutMs = 10000;

bool ReadAll(int fd, std::string* out) {
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n == 0;
        out->append(buf, size_t(n));
    }
}

bool WriteAt(int fd, const std::string& text, uint64_t at) {
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::pwrite(fd, text.data() + done, text.size() - done, off_t(at + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += size_t(n);
    }
    return true;
}

size_t Discard(char*, size_t size, size_t n, void*) {
    return size * n;
}

int Abort(void* stop, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<std::atomic<bool>*>(stop)->load() ? 1 : 0;  // stopping: give up now
}

}  // namespace

CallbackLane::CallbackLane(const Config& config, const Config::CallbackTarget& target)
    : config_(config), target_(target) {
    counts_.name = target.name;
}

CallbackLane::~CallbackLane() {
    stop_ = true;
    {
        std::lock_guard lock(mu_);  // the thread is waiting or will see stop_ next
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

Status CallbackLane::Start() {
    const std::string dir = config_.queue_file_path + "/callbacks";
    ::mkdir(dir.c_str(), 0750);
    const std::string base = dir + "/" + target_.name;
    journal_ = UniqueFd(::open((base + ".journal").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
    done_ = UniqueFd(::open((base + ".done").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
    std::string text, mark;
    if (!journal_ || !done_ || !ReadAll(journal_.get(), &text) || !ReadAll(done_.get(), &mark))
        return Status::IoError(base + ".journal: " + std::strerror(errno));
    uint64_t pos = std::strtoull(mark.c_str(), nullptr, 10);
    if (pos > text.size()) pos = 0;
    for (size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
        const size_t tab = text.find('\t', pos);
        if (tab == std::string::npos || tab > nl) continue;
        pending_.push_back({{}, std::strtoll(text.c_str() + pos, nullptr, 10), tab + 1, nl + 1});
    }
    size_ = pos;  // a torn last line is cut off
    if (::ftruncate(journal_.get(), off_t(size_)) != 0)
        return Status::IoError(base + ".journal: " + std::strerror(errno));
    if (!pending_.empty())
        spdlog::info("callback {}: {} events to deliver", target_.name, pending_.size());
    thread_ = std::thread([this] { Main(); });
    return Status::Ok();
}

void CallbackLane::Add(std::string json, int64_t at_ms) {
    {
        std::lock_guard lock(mu_);
        incoming_.emplace_back(std::move(json), at_ms);
    }
    cv_.notify_one();
}

CallbackCounts CallbackLane::Counts() const {
    std::lock_guard lock(mu_);
    CallbackCounts c = counts_;
    c.pending = pending_.size() + incoming_.size();
    return c;
}

void CallbackLane::JournalIncoming(std::unique_lock<std::mutex>& lock) {
    if (incoming_.empty()) return;
    std::vector<std::pair<std::string, int64_t>> batch;
    batch.swap(incoming_);
    lock.unlock();
    std::string lines;
    std::vector<Pending> added;
    for (auto& [json, at] : batch) {
        lines += std::to_string(at) + '\t';
        const uint64_t begin = size_ + lines.size();
        lines += json + '\n';
        added.push_back({std::move(json), at, begin, size_ + lines.size()});
    }
    const bool kept = WriteAt(journal_.get(), lines, size_) && ::fdatasync(journal_.get()) == 0;
    if (!kept)
        spdlog::error("callback {}: journal: {} (kept in memory)", target_.name,
                      std::strerror(errno));
    size_ += lines.size();
    lock.lock();
    for (Pending& p : added) {
        if (kept) p.json.clear();
        pending_.push_back(std::move(p));
    }
}

void CallbackLane::Main() {
    std::unique_lock lock(mu_);
    int64_t backoff_ms = 0, next_try_ms = 0;
    auto woken = [this] { return stop_ || !incoming_.empty(); };
    while (!stop_) {
        JournalIncoming(lock);
        const int64_t now = NowMs();
        if (pending_.empty()) {
            cv_.wait(lock, woken);
            continue;
        }
        if (now < next_try_ms) {
            cv_.wait_for(lock, std::chrono::milliseconds(next_try_ms - now), woken);
            continue;
        }
        const Pending& p = pending_.front();  // only this thread changes pending_
        lock.unlock();
        const std::string json = JsonOf(p);  // a disk read: never while Add() may wait
        lock.lock();
        if (now - p.at_ms > int64_t(config_.callback_max_age_s) * 1000) {
            counts_.expired++;
            NoteFailure(json, "expired after [callback] max_age_s");
            Done(p.end);
            continue;
        }
        std::string why;
        lock.unlock();
        const bool ok = Deliver(json, &why);
        lock.lock();
        counts_.attempts++;
        if (ok) {
            counts_.delivered++;
            backoff_ms = next_try_ms = 0;
            Done(p.end);
        } else if (!stop_) {
            counts_.failed_attempts++;
            NoteFailure(json, why);
            backoff_ms = std::min<int64_t>(backoff_ms ? backoff_ms * 2 : 1000,
                                           int64_t(config_.callback_max_backoff_s) * 1000);
            next_try_ms = NowMs() + backoff_ms;
        }
    }
}

std::string CallbackLane::JsonOf(const Pending& p) const {
    if (!p.json.empty()) return p.json;
    std::string json(p.end - 1 - p.begin, '\0');
    size_t done = 0;
    while (done < json.size()) {
        ssize_t n =
            ::pread(journal_.get(), json.data() + done, json.size() - done, off_t(p.begin + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += size_t(n);
    }
    json.resize(done);
    return json;
}

bool CallbackLane::Deliver(const std::string& json, std::string* why) {
    const std::string timestamp = std::to_string(NowMs() / 1000);
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return *why = "curl_easy_init failed", false;
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(nullptr,
                                                                        curl_slist_free_all);
    for (const std::string& h :
         {std::string("Content-Type: application/json"), "X-Mega-Callback: " + target_.name,
          "X-Mega-Timestamp: " + timestamp,
          "X-Mega-Signature: " + CallbackSignature(target_.secret, timestamp, json)})
        headers.reset(curl_slist_append(headers.release(), h.c_str()));
    curl_easy_setopt(curl.get(), CURLOPT_URL, target_.url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, json.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, long(json.size()));
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, kTimeoutMs);
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Discard);
    curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, Abort);
    curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &stop_);
    const CURLcode rc = curl_easy_perform(curl.get());
    if (rc != CURLE_OK) return *why = curl_easy_strerror(rc), false;
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) return true;
    *why = "HTTP " + std::to_string(status);
    return false;
}

void CallbackLane::Done(uint64_t end) {
    pending_.pop_front();
    if (pending_.empty() && incoming_.empty() && end >= size_) {
        size_ = end = 0;  // all delivered: start the journal afresh
        (void)::ftruncate(journal_.get(), 0);
    }
    const std::string mark = std::to_string(end) + "\n";
    (void)::ftruncate(done_.get(), 0);
    (void)WriteAt(done_.get(), mark, 0);
}

void CallbackLane::NoteFailure(const std::string& json, const std::string& why) {
    const size_t at = json.find("\"id\":\"");
    const std::string id =
        at == std::string::npos ? "?" : json.substr(at + 6, json.find('"', at + 6) - at - 6);
    auto& recent = counts_.recent_failures;
    recent.push_back(std::to_string(NowMs() / 1000) + " message " + id + ": " + why);
    if (recent.size() > kRecentFailures) recent.erase(recent.begin());
}

}  // namespace mega
