// Migrations: a file's version is the number its name starts with ("002_message_log.sql").
// Statements are split at a ';' that ends a line; the files are written that way.
#include "store/Migrations.h"

#include <cstdlib>
#include <vector>

#include "base/EmbeddedFile.h"
#include "store/MysqlSession.h"

namespace mega {
namespace {

int VersionOf(const EmbeddedFile& f) {
    return std::atoi(f.name);
}

std::vector<std::string> Statements(std::string_view text) {
    std::vector<std::string> out;
    std::string current;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (line.rfind("--", 0) == 0) continue;
        current.append(line);
        current.push_back('\n');
        size_t end = line.find_last_not_of(" \t\r");
        if (end != std::string_view::npos && line[end] == ';') {
            out.push_back(current);
            current.clear();
        }
    }
    if (current.find_first_not_of(" \t\r\n") != std::string::npos) out.push_back(current);
    return out;
}

Status CurrentVersion(MysqlSession& db, long long* version) {
    long long exists = 0;
    Status s = db.QueryInt(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
        "AND table_name = '{prefix}mega_schema'",
        0, &exists);
    if (!s.ok()) return s;
    if (!exists) {
        *version = -1;
        return Status::Ok();
    }
    return db.QueryInt("SELECT MAX(version) FROM `{prefix}mega_schema`", -1, version);
}

// Whether the file of `version` was applied: its row in mega_schema (none while the table
// itself is missing). A version is applied even when a higher one already is: files from
// branches merged in another order, or one whose statements failed half-way.
Status IsApplied(MysqlSession& db, int version, bool* applied) {
    long long current;
    Status s = CurrentVersion(db, &current);
    if (!s.ok() || current < 0) {
        *applied = false;
        return s;
    }
    long long rows = 0;
    s = db.QueryInt(
        "SELECT COUNT(*) FROM `{prefix}mega_schema` WHERE version = " + std::to_string(version), 0,
        &rows);
    *applied = rows > 0;
    return s;
}

}  // namespace

int RequiredSchemaVersion() {
    int v = -1;
    for (const auto& f : SchemaFiles()) v = std::max(v, VersionOf(f));
    return v;
}

Status Migrate(const Config& config, std::string* applied) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    for (const auto& f : SchemaFiles()) {
        bool done = false;
        s = IsApplied(db, VersionOf(f), &done);
        if (!s.ok()) return s;
        if (done) continue;
        for (const auto& statement : Statements(std::string_view(f.data, f.size))) {
            s = db.Execute(statement);
            if (!s.ok()) return Status::Unavailable(std::string(f.name) + ": " + s.message());
        }
        *applied += std::string(applied->empty() ? "" : ", ") + f.name;
    }
    return Status::Ok();
}

Status CheckSchema(const Config& config) {
    MysqlSession db;
    Status s = db.Connect(config);
    if (!s.ok()) return s;
    long long current;
    s = CurrentVersion(db, &current);
    if (!s.ok()) return s;
    const int required = RequiredSchemaVersion();
    for (const auto& f : SchemaFiles()) {
        bool done = false;
        s = IsApplied(db, VersionOf(f), &done);
        if (!s.ok()) return s;
        if (!done)
            return Status::Invalid("the database schema is at version " + std::to_string(current) +
                                   " without " + f.name + ", this server needs " +
                                   std::to_string(required) +
                                   ": run `mega NAME migrate` (or mega -c FILE migrate) first");
    }
    return Status::Ok();
}

}  // namespace mega
