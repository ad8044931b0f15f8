// The WeChat API base URLs in failover order ([wechat] api_base, comma-separated). Every
// sender thread and the token fetcher read the current one; a connection failure or a
// timeout on the current base moves everybody to the next (once per failure epoch, so a
// burst of failures is one switch), and after `failover_healthy_s` on a later base the
// first is tried again. Lock-free: an atomic epoch counter encodes the current index.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace mega {

class ApiBases {
  public:
    ApiBases(std::vector<std::string> bases, int healthy_s);

    // The epoch (changes on every switch) and its base URL.
    uint64_t epoch();
    const std::string& Url(uint64_t epoch) const { return bases_[epoch % bases_.size()]; }
    size_t Index(uint64_t epoch) const { return epoch % bases_.size(); }
    // A connection failure or timeout on `epoch`'s base: move on, unless someone already did.
    void ReportFailure(uint64_t epoch, const char* why);
    uint64_t switches() const { return switches_.load(std::memory_order_relaxed); }

  private:
    std::vector<std::string> bases_;
    int64_t healthy_ms_;
    std::atomic<uint64_t> epoch_{0};
    std::atomic<int64_t> switched_at_ms_{0};
    std::atomic<uint64_t> switches_{0};
};

}  // namespace mega
