-- 008: each template names the account that sends it and the kind of message it is
-- (config/Accounts.h): original rows become template messages of the account `default`.
-- The message log keeps both on every row, for filters and labels.
ALTER TABLE `{prefix}mega_wechat_template`
  ADD COLUMN `account` varchar(64) NOT NULL DEFAULT 'default',
  ADD COLUMN `kind` varchar(16) NOT NULL DEFAULT 'template';
ALTER TABLE `{prefix}mega_message_log`
  ADD COLUMN `account` varchar(64) NOT NULL DEFAULT 'default',
  ADD COLUMN `kind` varchar(16) NOT NULL DEFAULT 'template',
  ADD KEY `account_created` (`account`, `created_at`);
INSERT IGNORE INTO `{prefix}mega_schema` (version, applied_at) VALUES (8, UNIX_TIMESTAMP());
