// fake-wechat's WeCom group robot: POST /cgi-bin/webhook/send?key=KEY takes 20 messages in
// any window of --robot-window-s seconds (WeCom: a minute) per key and answers 45009 beyond,
// as WeCom does; a missing key answers 93000 (reported for an invalid webhook key). Accepted
// messages are stored like template sends, with touser "robot:KEY".
#include "tools/fake-wechat/FakeWechat.h"

namespace fakewechat {

namespace {
constexpr size_t kRobotPerWindow = 20;
}

void FakeWechat::HandleRobotSend(HttpRequest&& request, HttpResponder responder) {
    ++state_.send_requests;
    std::string key;
    if (request.method != "POST") return AnswerSend(responder, 43002);
    if (!request.QueryParam("key", &key) || key.empty()) return AnswerSend(responder, 93000);
    std::deque<uint64_t>& sends = state_.robot_sends[key];
    const uint64_t now = Now(), window = uint64_t(options_.robot_window_s) * 1000;
    while (!sends.empty() && sends.front() + window <= now) sends.pop_front();
    if (sends.size() >= kRobotPerWindow) return AnswerSend(responder, 45009);
    sends.push_back(now);
    AnswerSend(responder, 0, Deliver("robot:" + key, "", std::string(request.body)));
}

}  // namespace fakewechat
