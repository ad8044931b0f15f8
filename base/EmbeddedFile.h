// Files compiled into the binary (SQL migrations, the dashboard's assets), generated at
// build time by tools/embed-files.cmake, so the server needs nothing beside itself to run.
#pragma once

#include <cstddef>
#include <span>

namespace mega {

struct EmbeddedFile {
    const char* name;  // file name, no directory
    const char* data;
    size_t size;
};

std::span<const EmbeddedFile> SchemaFiles();     // config/schema/*.sql, by name
std::span<const EmbeddedFile> DashboardFiles();  // admin/dashboard/*
std::span<const EmbeddedFile> ApiFiles();        // api/openapi.json

}  // namespace mega
