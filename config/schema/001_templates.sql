-- 001: the template table of the original Mega-Wechat, unchanged ({prefix} = [pdo] table_prefix).
CREATE TABLE IF NOT EXISTS `{prefix}mega_wechat_template` (
  `tmpl_key` char(32) NOT NULL,
  `title` varchar(100) NOT NULL DEFAULT '',
  `template` text NOT NULL,
  `created_at` int(11) NOT NULL DEFAULT '0',
  `updated_at` int(11) NOT NULL DEFAULT '0',
  PRIMARY KEY (`tmpl_key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO `{prefix}mega_schema` (version, applied_at) VALUES (1, UNIX_TIMESTAMP());
