// The replies of mega's HTTP APIs in one place: JSON bodies, errors as {"error": "..."}, the
// one mapping from a Status to an HTTP status code, and what a client may see of a failed MySQL
// query (not the database's host, port or name: those go to the log).
#pragma once

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <functional>
#include <string_view>

#include "base/Status.h"
#include "http/HttpServer.h"

namespace mega {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// 200 (or `status`) with the JSON that `write` writes.
HttpResponse JsonReply(const std::function<void(JsonWriter& w)>& write, int status = 200);
HttpResponse ErrorReply(int status, std::string_view message);  // {"error": message}
HttpResponse OkReply();                                         // {"ok":true}

// What Status::kInvalid means for a route: the request itself is wrong (400), or it does not
// fit the present state of what it names (409: pause a task that is done).
enum class InvalidMeans { kBadRequest, kConflict };

// kOk 200; kInvalid 400 or 409; kNotFound 404; kFull, kUnavailable, kIoError 503.
int HttpStatusOf(const Status& status, InvalidMeans invalid = InvalidMeans::kBadRequest);
// {"ok":true} when ok, else {"error": the message} with HttpStatusOf's code.
HttpResponse StatusReply(const Status& status, InvalidMeans invalid = InvalidMeans::kBadRequest);

// A result of the MySQL message store (message log, tasks) as a client may see it: an
// unreachable or failing database becomes "message store unavailable", and the full message
// (which names host, port and database) is logged with `what` ("GET /api/messages").
Status MessageStoreStatus(const Status& status, std::string_view what);

// Members of the object being written: "key": value.
void Field(JsonWriter& w, const char* key, std::string_view value);
void Field(JsonWriter& w, const char* key, const char* value);
void Field(JsonWriter& w, const char* key, bool value);
void Field(JsonWriter& w, const char* key, int value);
void Field(JsonWriter& w, const char* key, unsigned value);
void Field(JsonWriter& w, const char* key, int64_t value);
void Field(JsonWriter& w, const char* key, uint64_t value);
void Field(JsonWriter& w, const char* key, double value);
// A 64-bit id as a decimal string (JavaScript numbers stop at 2^53).
void IdField(JsonWriter& w, const char* key, uint64_t id);
void WriteString(JsonWriter& w, std::string_view value);

}  // namespace mega
