// Schema migrations: the versioned SQL files of config/schema/ (compiled into the binary),
// applied in order by `mega NAME migrate` and recorded in `{prefix}mega_schema`. The server
// refuses to start on a database older than the newest file it carries.
#pragma once

#include <string>

#include "base/Status.h"
#include "config/Config.h"

namespace mega {

int RequiredSchemaVersion();
// Applies every migration newer than the database's version; *applied lists them.
Status Migrate(const Config& config, std::string* applied);
// Invalid, with the advice to run migrate, when the database is older than required.
Status CheckSchema(const Config& config);

}  // namespace mega
