// The server's configuration: the original Mega-Wechat ini file (BOM, quoted values,
// `table_size = 100;`, repeated `listen[]`) plus keys of ours, each with a default.
// Loaded once at start with inih; after that it is read-only and shared by every thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"
#include "config/Accounts.h"

namespace mega {

enum class FsyncPolicy { kAlways, kInterval, kNone };

struct Config {
    // [server]
    std::vector<std::string> listen;  // "host:port", at least one
    int table_size = 100;
    int template_size = 4048;
    std::string queue_file_path = "logs/queue";
    FsyncPolicy fsync = FsyncPolicy::kInterval;
    int fsync_interval_ms = 100;
    uint64_t queue_max_bytes = 8ull << 30;       // 8 GiB of live queue
    uint64_t queue_segment_bytes = 64ull << 20;  // one segment file
    std::string pid_file;                        // default: <queue_file_path>/mega.pid
    int shutdown_timeout_ms = 10000;             // stop: wait this long for in-flight sends
    int max_connections = 65536;  // client connections; lowered to fit the descriptor limit
    int idle_timeout_s = 0;       // close a client silent this long (0: never, as the original)
    int frame_timeout_s = 30;     // close a client whose frame is not complete this long after
    bool strict_config = false;   // unknown sections and keys refuse the start

    // [setting]
    int task_worker_num = 8;  // × max_inflight: the concurrent WeChat calls
    int max_inflight = 256;
    int sender_threads = 0;  // threads they run on (0: one per core, at most task_worker_num)
    uint64_t package_max_length = 2465792;
    bool daemonize = true;
    int http_timeout_ms = 10000;
    bool missing_var_reject = false;   // missing_var = reject: a push lacking a ${var} fails
    int template_value_max_chars = 0;  // template data values longer fail locally (0: no cap)

    // [pdo]
    std::string mysql_host = "127.0.0.1";
    int mysql_port = 3306;
    std::string mysql_db = "mega";
    std::string mysql_socket;  // unix_socket=… in the DSN
    std::string mysql_user = "root";
    std::string mysql_password;
    std::string table_prefix;

    // [wechat]
    std::string app_id;
    std::string app_secret;        // secret: never logged
    std::string token;             // the account's server-URL token (delivery events)
    std::string encoding_aes_key;  // safe mode's EncodingAESKey (43 characters); secret
    std::vector<std::string> api_base{"https://api.weixin.qq.com"};  // failover order
    bool stable_token = true;                                        // token_api = stable | classic
    double rate_limit_per_second = 0;                                // 0 = unlimited
    int rate_burst = 0;                   // 0 = a tenth of a second's worth
    int failover_healthy_s = 60;          // on a later base this long, then try the first again
    int quota_probe_s = 300;              // while paused by 45009, send one probe this often
    std::string ca_file;                  // CAs for HTTPS (CURLOPT_CAINFO); empty: libcurl's
    std::vector<AccountConfig> accounts;  // [account.NAME] sections (config/Accounts.h)

    // [retry]
    int retry_tries = 3;                         // attempts in all, the first included
    std::vector<int> retry_backoff{10, 30, 60};  // seconds; the last step repeats
    int dedup_window_s = 86400;                  // msgkey memory

    // [admin]
    std::string admin_listen = "127.0.0.1:9502";   // empty = no admin API
    bool admin_listen_set = false;                 // false: the default, which may be busy
    std::string admin_token;                       // secret: never logged
    bool metrics_public = false;                   // GET /metrics without the token
    std::vector<std::string> admin_allowed_hosts;  // more Host names (lower case), [:port]
    int admin_max_connections = 1024;              // beyond: 503 and close
    int admin_header_timeout_s = 10;               // headers complete by then, else 408
    int admin_request_timeout_s = 60;              // the whole request (body too), else 408
    int admin_idle_timeout_s = 60;                 // a keep-alive connection with nothing to do

    // [http]: the HTTP submit API (api/SubmitApi.h)
    struct ApiKey {
        std::string name;    // becomes a message's source unless the body sets one
        std::string secret;  // never logged
    };
    std::string http_listen;            // empty = off
    std::vector<ApiKey> http_keys;      // empty: anonymous, allowed on loopback only
    int http_max_batch = 1000;          // messages in one POST /v1/messages
    int http_max_body_bytes = 8 << 20;  // beyond: 413
    int http_max_wait_s = 60;           // the longest ?wait=

    // [outbox]: the outbox relay from the business database (outbox/OutboxRelay.h)
    std::string outbox_dsn;                    // "mysql:host=…;dbname=…"; empty = off
    std::string outbox_user, outbox_password;  // empty user: [pdo]'s; the password: secret
    std::string outbox_table = "mega_outbox";
    int outbox_poll_ms = 200;   // between reads while the table has nothing to send
    int outbox_batch = 500;     // rows a read takes
    int outbox_keep_s = 86400;  // published rows are deleted after this long

    // [events]: WeChat's server-URL pushes (events/EventEndpoint.h)
    std::string events_listen;  // empty = off
    int receipt_wait_s = 60;    // a receipt waits this long for its message to be logged sent

    // [callback] and [callback.NAME]: signed status callbacks (callbacks/CallbackSender.h)
    struct CallbackTarget {
        std::string name, url;
        std::string secret;               // HMAC-SHA256 key; never logged
        std::vector<std::string> events;  // statuses it hears of; empty: all ends and `sent`
    };
    std::vector<CallbackTarget> callbacks;
    int callback_max_age_s = 86400;   // a callback not delivered by then is dropped (counted)
    int callback_max_backoff_s = 60;  // retries back off 1 s, 2 s, 4 s … up to this
    const CallbackTarget* FindCallback(std::string_view name) const;

    // [log]
    std::string log_file = "logs/mega.log";
    std::string log_level = "info";
    std::string log_prefix = "mega";
    bool message_log = true;           // rows in {prefix}mega_message_log
    bool log_json = false;             // [log] format = json: one JSON object a line
    int message_log_backlog = 100000;  // events waiting for the writer before "queued" ones go

    // [queue] and [redis]: where messages wait (queue/QueueBackend.h, queue/REDIS.md)
    bool queue_redis = false;                            // [queue] backend = redis (else file)
    std::string redis_url = "redis://127.0.0.1:6379/0";  // or unix:///path; secret: never logged
    std::string redis_key_prefix = "mega:";
    int redis_claim_idle_ms = 30000;  // another node's pending entry is taken over after this
    int redis_max_deliveries = 5;     // deliveries without an outcome before "poison"
    int redis_wait_replicas = 0;      // WAIT for this many replicas before acknowledging
    std::string node_id;              // [server] node_id; empty: hostname:port (Server::Start)
    // [redis] sentinels ("host:port,..."): where to ask for the primary of master_name
    std::string redis_sentinels, redis_master_name = "mymaster";

    std::string source_path;            // the file it was read from
    std::vector<std::string> warnings;  // unknown sections and keys, "FILE:LINE: ... did you mean"

    // The config of `path`: IoError if unreadable, Invalid with the first bad value (with
    // its FILE:LINE), or with every warning when strict_config = 1.
    static Status Load(const std::string& path, Config* out);
    // Reads all it can: *out gets every good value (a bad one keeps its default) and
    // *errors every bad value, "FILE:LINE: ...". Fails only if the file cannot be read.
    static Status LoadAll(const std::string& path, Config* out, std::vector<std::string>* errors);
    // Parses "mysql:host=…;port=…;dbname=…" into the mysql_* fields.
    static Status ParseDsn(const std::string& dsn, Config* out);
};

}  // namespace mega
