// PauseFile: an account's pause (an operator's, or the 45009 quota's until midnight UTC+8)
// kept next to the queue, so that a restart during an incident does not resume sending: the
// file `pause` for the account `default` (as before accounts), `pause.NAME` for the others.
// Format, one "name value" line each: paused 0|1, by_operator 0|1, since_ms N, until_ms N,
// reason TEXT (the rest of the line). Written to NAME.new and renamed over NAME.
#pragma once

#include <string>
#include <string_view>

#include "base/Status.h"
#include "queue/QueueBackend.h"

namespace mega {

// The file name of `account`'s pause: `pause`, or `pause.NAME` (NAME hex-encoded unless it
// is all letters, digits, '-' and '_').
std::string PauseFileName(std::string_view account);
Status SavePauseFile(const std::string& path, const PauseState& state);
// NotFound when there is no file (never paused); Invalid when it cannot be read back.
Status LoadPauseFile(const std::string& path, PauseState* state);

}  // namespace mega
