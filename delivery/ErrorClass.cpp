// The error table: every WeChat errcode the server knows, with what it means for the
// message. Facts from WeChat's published error code list; codes marked (community) come
// from user reports, not WeChat's documentation. A code not listed here is permanent.
#include "delivery/ErrorClass.h"

namespace mega {

Outcome Classify(bool transport_ok, long http_status, int errcode) {
    // No HTTP answer (connect failure, timeout, reset): the message may or may not have
    // been sent; retry with the same client_msg_id so WeChat drops a duplicate.
    if (!transport_ok) return Outcome::kTransient;
    // HTTP 5xx: WeChat (or its front end) is in trouble. Any other non-2xx status comes
    // from a proxy in between, not from the API (which answers 200 even to errors): retry.
    if (http_status < 200 || http_status >= 300) return Outcome::kTransient;

    switch (errcode) {
        case 0:
            return Outcome::kSent;  // ok
        // Duplicate within 60 s (community): the same message was already accepted.
        case 40241:
            return Outcome::kSent;

        case -1:
            return Outcome::kTransient;  // system busy: back off and retry
        case 45011:
            return Outcome::kTransient;  // minute frequency limit: retry >= 60 s later
        case 43117:
            return Outcome::kTransient;  // too frequent to this openid (community)
        case kErrcodeTransport:
            return Outcome::kTransient;  // local: no HTTP answer
        case kErrcodeBadReply:
            return Outcome::kTransient;  // local: answer not WeChat's JSON
        case kErrcodeNoToken:
            return Outcome::kTransient;  // local: no access_token to use
        case kErrcodeNotSent:
            return Outcome::kTransient;  // local: pool stopped before sending

        case 40001:
            return Outcome::kToken;  // token not the latest (another fetch replaced it)
        case 40014:
            return Outcome::kToken;  // token invalid
        case 42001:
            return Outcome::kToken;  // token expired

        case 45009:
            return Outcome::kQuota;  // daily API quota reached: stop the account

        case 40003:
            return Outcome::kPermanent;  // invalid openid
        case 40037:
            return Outcome::kPermanent;  // invalid template_id (community: rarely transient)
        case 43004:
            return Outcome::kPermanent;  // receiver not subscribed
        case 43101:
            return Outcome::kPermanent;  // user refuses messages from the account
        case 43116:
            return Outcome::kPermanent;  // template banned, for the whole template
        case 47001:
            return Outcome::kPermanent;  // malformed body (also a local render failure)
        case 47003:
            return Outcome::kPermanent;  // field value invalid (data.x.value invalid)
        case 48001:
            return Outcome::kPermanent;  // API not authorized: configuration
        case 40013:
            return Outcome::kPermanent;  // invalid appid: configuration
        case 41001:
            return Outcome::kPermanent;  // token missing: a bug of ours

        default:
            return Outcome::kPermanent;  // unknown code: dead letter, never loop on it
    }
}

int MinRetryDelaySeconds(int errcode) {
    return errcode == 45011 ? 60 : 0;  // minute frequency limit
}

const char* OutcomeName(Outcome o) {
    switch (o) {
        case Outcome::kSent:
            return "sent";
        case Outcome::kTransient:
            return "transient";
        case Outcome::kToken:
            return "token";
        case Outcome::kQuota:
            return "quota";
        case Outcome::kPermanent:
            return "permanent";
    }
    return "unknown";
}

}  // namespace mega
