// CallbackSender: lanes are made once and never change while the server runs (a SIGHUP does
// not add callbacks: a restart does).
#include "callbacks/CallbackSender.h"

#include <algorithm>

namespace mega {

bool CallbackWants(const Config::CallbackTarget& target, std::string_view status) {
    return target.events.empty() ||
           std::find(target.events.begin(), target.events.end(), status) != target.events.end();
}

CallbackSender::CallbackSender(const Config& config) : config_(config) {
    for (const auto& target : config.callbacks)
        lanes_.push_back(std::make_unique<CallbackLane>(config, target));
}

Status CallbackSender::Start() {
    for (auto& lane : lanes_)
        if (Status s = lane->Start(); !s.ok()) return s;
    return Status::Ok();
}

void CallbackSender::Post(std::string_view name, const CallbackEvent& event) {
    for (size_t i = 0; i < lanes_.size(); i++) {
        const auto& target = config_.callbacks[i];
        if (target.name == name && CallbackWants(target, event.status))
            lanes_[i]->Add(CallbackJson(event), event.at_ms);
    }
}

std::vector<CallbackCounts> CallbackSender::Counts() const {
    std::vector<CallbackCounts> out;
    for (const auto& lane : lanes_) out.push_back(lane->Counts());
    return out;
}

}  // namespace mega
