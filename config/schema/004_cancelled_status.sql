-- 004: messages an operator cancelled (delayed or retrying) are neither sent nor failed.
ALTER TABLE `{prefix}mega_message_log`
  MODIFY `status` enum('queued','sending','retrying','sent','failed','cancelled') NOT NULL;
INSERT IGNORE INTO `{prefix}mega_schema` (version, applied_at) VALUES (4, UNIX_TIMESTAMP());
