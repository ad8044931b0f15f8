// PauseFile: the account's pause (an operator's, or the 45009 quota's until midnight UTC+8)
// kept next to the queue, so that a restart during an incident does not resume sending.
// Format, one "name value" line each: paused 0|1, by_operator 0|1, since_ms N, until_ms N,
// reason TEXT (the rest of the line). Written to NAME.new and renamed over NAME.
#pragma once

#include <string>

#include "base/Status.h"
#include "queue/QueueBackend.h"

namespace mega {

Status SavePauseFile(const std::string& path, const PauseState& state);
// NotFound when there is no file (never paused); Invalid when it cannot be read back.
Status LoadPauseFile(const std::string& path, PauseState* state);

}  // namespace mega
