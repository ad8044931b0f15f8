-- 010: WeCom app messages (delivery/WecomAppChannel): WeCom's msgid is a string, kept in
-- `remote_msgid` for recall (POST /api/messages/ID/recall), and a recalled message ends
-- `recalled`.
ALTER TABLE `{prefix}mega_message_log`
  MODIFY `status` enum('queued','sending','retrying','sent','failed','cancelled',
                       'delivered','blocked','undelivered','recalled') NOT NULL,
  ADD COLUMN `remote_msgid` varchar(128) NOT NULL DEFAULT '';
INSERT IGNORE INTO `{prefix}mega_schema` (version, applied_at) VALUES (10, UNIX_TIMESTAMP());
