// What an outcome of a template send means for the message: the one table that maps
// transport failures, HTTP statuses and WeChat errcodes to an action (see ErrorClass.cpp,
// one comment per code).
#pragma once

namespace mega {

enum class Outcome {
    kSent,       // errcode 0 (and 40241, a duplicate of a message already sent)
    kTransient,  // network error, timeout, HTTP 5xx, -1, 45011, 43117: retry later
    kToken,      // 40001/40014/42001: compare-and-expire the token, refresh, retry once
    kQuota,      // 45009: stop the account until the daily reset or an operator resumes
    kPermanent,  // everything else: dead letter
};

// Local errcodes, never sent by WeChat, put in DeliveryResult.errcode by the sender.
constexpr int kErrcodeTransport = -2;  // no HTTP answer: connect failure, timeout, reset
constexpr int kErrcodeBadReply = -3;   // an HTTP answer that is not WeChat's JSON
constexpr int kErrcodeNoToken = -4;    // no access_token: token endpoint unreachable/refused
constexpr int kErrcodeNotSent = -5;    // never sent: the sender pool stopped first

// `transport_ok` false means the request never got an HTTP answer (connect/timeout/reset).
Outcome Classify(bool transport_ok, long http_status, int errcode);
// Seconds to wait at least before a retry imposed by the code itself (45011: 60), else 0.
int MinRetryDelaySeconds(int errcode);
const char* OutcomeName(Outcome o);

}  // namespace mega
