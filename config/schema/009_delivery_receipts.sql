-- 009: WeChat's delivery receipts (events/): a sent message ends delivered, blocked or
-- undelivered once TEMPLATESENDJOBFINISH / subscribe_msg_sent_event names its msgid (indexed
-- to find it), and its callback=NAME (callbacks/) hears of it; and who accepted or rejected which subscribe template (subscribe_msg_popup_event,
-- subscribe_msg_change_event), one row per openid and template, the latest choice.
ALTER TABLE `{prefix}mega_message_log`
  MODIFY `status` enum('queued','sending','retrying','sent','failed','cancelled',
                       'delivered','blocked','undelivered') NOT NULL,
  ADD COLUMN `callback` varchar(64) NOT NULL DEFAULT '',
  ADD KEY `msgid` (`msgid`);
CREATE TABLE IF NOT EXISTS `{prefix}mega_subscribe_choice` (
  `openid` varchar(128) NOT NULL,
  `template_id` varchar(128) NOT NULL,
  `choice` enum('accept','reject') NOT NULL,
  `scene` varchar(16) NOT NULL DEFAULT '',
  `updated_at` bigint NOT NULL,
  PRIMARY KEY (`openid`, `template_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO `{prefix}mega_schema` (version, applied_at) VALUES (9, UNIX_TIMESTAMP());
