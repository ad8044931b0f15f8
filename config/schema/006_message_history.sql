-- 006: the dashboard's history and message timeline. `mega_message_stats`: per 5-minute bucket
-- (bucket_ms, its start in ms since the epoch), the message log's events added up by the log
-- writer as it writes its batches: messages queued, sent, failed, retried (an attempt failed
-- and another follows), cancelled; wait = sent_at - created_at of each sent message (sum,
-- count, max, in ms); send latency = each WeChat call (sum, count, max, in microseconds).
-- Buckets older than 8 days are deleted by the writer. `attempt_log`: one JSON object per
-- attempt of the message (time, outcome, errcode, latency), comma-separated, up to 8000 bytes;
-- NULL on rows written before this migration. Adding a last column is instant (no copy) on
-- MariaDB 10.3+ and MySQL 8.0.
CREATE TABLE IF NOT EXISTS `{prefix}mega_message_stats` (
  `bucket_ms` bigint NOT NULL,
  `queued` bigint unsigned NOT NULL DEFAULT 0,
  `sent` bigint unsigned NOT NULL DEFAULT 0,
  `failed` bigint unsigned NOT NULL DEFAULT 0,
  `retried` bigint unsigned NOT NULL DEFAULT 0,
  `cancelled` bigint unsigned NOT NULL DEFAULT 0,
  `wait_sum_ms` bigint unsigned NOT NULL DEFAULT 0,
  `wait_count` bigint unsigned NOT NULL DEFAULT 0,
  `wait_max_ms` bigint unsigned NOT NULL DEFAULT 0,
  `latency_sum_us` bigint unsigned NOT NULL DEFAULT 0,
  `latency_count` bigint unsigned NOT NULL DEFAULT 0,
  `latency_max_us` bigint unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`bucket_ms`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
ALTER TABLE `{prefix}mega_message_log` ADD COLUMN `attempt_log` text NULL;
INSERT IGNORE INTO `{prefix}mega_schema` (version, applied_at) VALUES (6, UNIX_TIMESTAMP());
