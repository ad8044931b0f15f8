-- 000: the table that records which migrations ran (`mega NAME migrate`).
CREATE TABLE IF NOT EXISTS `{prefix}mega_schema` (
  `version` int NOT NULL,
  `applied_at` int NOT NULL DEFAULT 0,
  PRIMARY KEY (`version`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO `{prefix}mega_schema` (version, applied_at) VALUES (0, UNIX_TIMESTAMP());
