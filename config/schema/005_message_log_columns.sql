-- 005: message-log rows that fit: bodies up to 16 MiB (a rendered body can pass text's 64 KiB),
-- and every column utf8mb4, so that 4-byte characters (emoji) fit. One ALTER: one table copy.
ALTER TABLE `{prefix}mega_message_log`
  CONVERT TO CHARACTER SET utf8mb4,
  MODIFY `body` mediumtext;
INSERT IGNORE INTO `{prefix}mega_schema` (version, applied_at) VALUES (5, UNIX_TIMESTAMP());
