// Values read from an HTTP API request: ids in the path or the JSON body, query numbers, and
// members of the JSON body. What is missing or malformed reads as absent (false, nullopt).
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/HttpRequestParser.h"

namespace mega {

// Decimal digits only, within 64 bits ("abc", "-1", "1x", "" are not ids).
bool ParseId(std::string_view text, uint64_t* id);
// body[key] as an id: a JSON number or a decimal string ("123": ids travel as strings).
bool JsonId(const rapidjson::Value& body, const char* key, uint64_t* id);
// body[key] when it is a string (all of it, NUL bytes too), else nullopt.
std::optional<std::string_view> JsonString(const rapidjson::Value& body, const char* key);
// body[key] written back as JSON text ("null" when absent).
std::string JsonText(const rapidjson::Value& body, const char* key);
// The query parameter as a number (strtoull / strtoll: leading digits, 0 if none), or
// `absent` when the parameter is not given.
uint64_t QueryUint(const HttpRequest& request, std::string_view name, uint64_t absent);
int64_t QueryInt(const HttpRequest& request, std::string_view name, int64_t absent);

}  // namespace mega
