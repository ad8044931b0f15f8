// The HTTP APIs' replies: JSON writing, errors, and Status → HTTP status code.
#include "http/HttpReply.h"

#include <spdlog/spdlog.h>

#include <string>

#include "base/LogText.h"

namespace mega {

HttpResponse JsonReply(const std::function<void(JsonWriter& w)>& write, int status) {
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    write(w);
    HttpResponse r;
    r.status = status;
    r.content_type = "application/json; charset=utf-8";
    r.body.assign(sb.GetString(), sb.GetSize());
    return r;
}

HttpResponse ErrorReply(int status, std::string_view message) {
    return JsonReply(
        [&](JsonWriter& w) {
            w.StartObject();
            Field(w, "error", message);
            w.EndObject();
        },
        status);
}

HttpResponse OkReply() {
    HttpResponse r;
    r.body = "{\"ok\":true}";
    r.content_type = "application/json; charset=utf-8";
    return r;
}

int HttpStatusOf(const Status& status, InvalidMeans invalid) {
    switch (status.code()) {
        case Status::Code::kOk:
            return 200;
        case Status::Code::kInvalid:
            return invalid == InvalidMeans::kConflict ? 409 : 400;
        case Status::Code::kNotFound:
            return 404;
        case Status::Code::kIoError:
        case Status::Code::kFull:
        case Status::Code::kUnavailable:
            break;
    }
    return 503;
}

HttpResponse StatusReply(const Status& status, InvalidMeans invalid) {
    if (status.ok()) return OkReply();
    return ErrorReply(HttpStatusOf(status, invalid), status.message());
}

Status MessageStoreStatus(const Status& status, std::string_view what) {
    if (status.code() != Status::Code::kUnavailable) return status;
    spdlog::error("admin API: {}: {}", what, LogText(status.message()));
    return Status::Unavailable("message store unavailable");
}

void Field(JsonWriter& w, const char* key, std::string_view value) {
    w.Key(key);
    WriteString(w, value);
}

void Field(JsonWriter& w, const char* key, const char* value) {
    Field(w, key, std::string_view(value));
}

void Field(JsonWriter& w, const char* key, bool value) {
    w.Key(key);
    w.Bool(value);
}

void Field(JsonWriter& w, const char* key, int value) {
    w.Key(key);
    w.Int(value);
}

void Field(JsonWriter& w, const char* key, unsigned value) {
    w.Key(key);
    w.Uint(value);
}

void Field(JsonWriter& w, const char* key, int64_t value) {
    w.Key(key);
    w.Int64(value);
}

void Field(JsonWriter& w, const char* key, uint64_t value) {
    w.Key(key);
    w.Uint64(value);
}

void Field(JsonWriter& w, const char* key, double value) {
    w.Key(key);
    w.Double(value);
}

void IdField(JsonWriter& w, const char* key, uint64_t id) {
    Field(w, key, std::to_string(id));
}

void WriteString(JsonWriter& w, std::string_view value) {
    w.String(value.data(), rapidjson::SizeType(value.size()));
}

}  // namespace mega
