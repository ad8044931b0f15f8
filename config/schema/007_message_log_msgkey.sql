-- 007: a message's msgkey in the log, so that GET /v1/messages?msgkey=K (the submit API) finds
-- it; '' for a message without one and for rows written before this migration.
ALTER TABLE `{prefix}mega_message_log`
  ADD COLUMN `msgkey` varchar(128) NOT NULL DEFAULT '',
  ADD KEY `msgkey` (`msgkey`);
INSERT IGNORE INTO `{prefix}mega_schema` (version, applied_at) VALUES (7, UNIX_TIMESTAMP());
