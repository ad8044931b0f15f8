// ConstantTimeEquals: compares a secret (a token, an API key) with what a client sent in a
// time that does not depend on where they differ, only on their length.
#pragma once

#include <string_view>

namespace mega {

inline bool ConstantTimeEquals(std::string_view given, std::string_view secret) {
    if (given.size() != secret.size()) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < secret.size(); i++)
        diff |= static_cast<unsigned char>(given[i] ^ secret[i]);
    return diff == 0;
}

}  // namespace mega
