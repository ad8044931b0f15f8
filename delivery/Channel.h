// Channel: what the sender threads need to know about one kind of outgoing message: how to
// render its body, which URL to call with which credential, and how to read the reply into
// an outcome and the remote message id. The sender threads drive every channel the same
// way, with no branch of their own per channel; WeChat's template message
// (WechatTemplateChannel) is the first. A Channel is immutable and shared by all sender
// threads; what parsing needs per thread lives in the ReplyReader each thread asks for.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"
#include "delivery/ErrorClass.h"
#include "templates/Template.h"

namespace mega {

class Channel;
class TokenCache;

// One message handed to a sender thread.
struct DeliveryJob {
    uint64_t id = 0;   // message id
    uint64_t tag = 0;  // the caller's handle for the message (returned in the result)
    std::shared_ptr<const Template> tmpl;
    // Views into the queue's storage; they stay valid until the result is handled.
    std::string_view openid, data, msgkey;
    uint32_t attempt = 1;
    uint32_t flight = 0;  // the dispatcher's slot of the decoded record (in the result too)
    // Its account's token cache and the channel of its template's kind; null: the pool's own.
    TokenCache* tokens = nullptr;
    const Channel* channel = nullptr;
};

// What a reply says, once read.
struct ChannelReply {
    bool understood = false;   // the reply has the channel's shape (else: kErrcodeBadReply)
    int errcode = 0;           // the remote error code, 0 for success
    uint64_t msgid = 0;        // the remote message id, 0 if none
    std::string remote_msgid;  // a remote id that is a string (WeCom's), empty if none
    std::string note;          // what a success reply still reports (WeCom's invaliduser)
};

// Reads replies on one sender thread, reusing its parse state: no allocation per reply.
class ReplyReader {
  public:
    virtual ~ReplyReader() = default;
    virtual ChannelReply Read(std::string_view body) = 0;
};

class Channel {
  public:
    virtual ~Channel() = default;
    virtual std::string_view name() const = 0;
    // Appends the request body for `job` to `body`; Invalid if the job cannot be rendered
    // (it then fails for good, without a call).
    virtual Status Render(const DeliveryJob& job, std::string* body,
                          Template::Scratch* scratch) const = 0;
    // Appends the URL of the send call on API base `base` with credential `token`.
    virtual void AppendUrl(std::string_view base, std::string_view token,
                           std::string* url) const = 0;
    // Appends the request's own header lines ("Name: value") for `body`, if it has any
    // (a signature); most channels have none.
    virtual void AppendHeaders(std::string_view /*body*/,
                               std::vector<std::string>* /*headers*/) const {}
    virtual std::unique_ptr<ReplyReader> NewReplyReader() const = 0;
    // What a call's end means: `transport_ok` false when no HTTP answer came; `errcode` as
    // read (or one of the local kErrcode* values).
    virtual Outcome Classify(bool transport_ok, long http_status, int errcode) const = 0;
};

}  // namespace mega
