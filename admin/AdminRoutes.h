// The admin API's resources: each adds its routes to the table (one file per resource,
// admin/<Resource>Routes.cpp). The handlers run on the loop thread; MySQL work goes off it.
#pragma once

#include <algorithm>
#include <iterator>

#include "http/RouteTable.h"

namespace mega {

class Server;

void AddDashboardRoutes(RouteTable& routes);                 // /, /index.html, /assets/NAME
void AddStatsRoutes(RouteTable& routes, Server& server);     // /api/health, /api/stats
void AddHistoryRoutes(RouteTable& routes, Server& server);   // /api/history
void AddMetricsRoutes(RouteTable& routes, Server& server);   // /metrics
void AddMessageRoutes(RouteTable& routes, Server& server);   // /api/messages, waiting, test
void AddFailedRoutes(RouteTable& routes, Server& server);    // /api/failed (dead letters)
void AddTaskRoutes(RouteTable& routes, Server& server);      // /api/tasks
void AddAccountRoutes(RouteTable& routes, Server& server);   // /api/account
void AddRecallRoutes(RouteTable& routes, Server& server);    // /api/messages/ID/recall
void AddTemplateRoutes(RouteTable& routes, Server& server);  // /api/templates
void AddClusterRoutes(RouteTable& routes, Server& server);   // /api/cluster

// A priority level's name in replies and metric labels: 0 "high", 1 "normal", 2 "low".
inline const char* PriorityName(int level) {
    static constexpr const char* kNames[] = {"high", "normal", "low"};
    return kNames[std::clamp(level, 0, int(std::size(kNames)) - 1)];
}

}  // namespace mega
