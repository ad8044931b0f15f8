-- 002: one row per message, written in batches by the server's log writer.
CREATE TABLE IF NOT EXISTS `{prefix}mega_message_log` (
  `id` bigint unsigned NOT NULL,
  `openid` varchar(128) NOT NULL,
  `tmpl_key` varchar(64) NOT NULL,
  `source` varchar(64) NOT NULL DEFAULT '',
  `priority` tinyint NOT NULL DEFAULT 1,
  `status` enum('queued','sending','retrying','sent','failed') NOT NULL,
  `attempts` smallint unsigned NOT NULL DEFAULT 0,
  `msgid` bigint unsigned NOT NULL DEFAULT 0,
  `errcode` int NOT NULL DEFAULT 0,
  `errmsg` varchar(512) NOT NULL DEFAULT '',
  `body` text,
  `created_at` bigint NOT NULL,
  `updated_at` bigint NOT NULL,
  `sent_at` bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `status_created` (`status`, `created_at`),
  KEY `openid_created` (`openid`, `created_at`),
  KEY `key_created` (`tmpl_key`, `created_at`),
  KEY `source_created` (`source`, `created_at`),
  KEY `created` (`created_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO `{prefix}mega_schema` (version, applied_at) VALUES (2, UNIX_TIMESTAMP());
