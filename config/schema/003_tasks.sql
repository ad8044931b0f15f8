-- 003: batch send tasks (campaigns): progress kept by the server, shown by the dashboard.
CREATE TABLE IF NOT EXISTS `{prefix}mega_task` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `tmpl_key` varchar(64) NOT NULL,
  `data` mediumtext,
  `options` varchar(512) NOT NULL DEFAULT '',
  `rate` double NOT NULL DEFAULT 0,
  `status` enum('loading','running','paused','done','cancelled') NOT NULL,
  `total` bigint unsigned NOT NULL DEFAULT 0,
  `queued` bigint unsigned NOT NULL DEFAULT 0,
  `sent` bigint unsigned NOT NULL DEFAULT 0,
  `failed` bigint unsigned NOT NULL DEFAULT 0,
  `file_offset` bigint unsigned NOT NULL DEFAULT 0,
  `created_at` bigint NOT NULL,
  `updated_at` bigint NOT NULL,
  PRIMARY KEY (`id`),
  KEY `status` (`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO `{prefix}mega_schema` (version, applied_at) VALUES (3, UNIX_TIMESTAMP());
