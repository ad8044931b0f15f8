-- 011: batch tasks on several nodes ([queue] backend = redis, server/TaskRunner.h): each
-- running task is leased to one node (`lease_node` until `lease_until`, the database's
-- clock), and the openids of a task are kept here too, so that the node taking a task
-- over can read them (`part` 0 at create, one more per append).
ALTER TABLE `{prefix}mega_task`
  ADD COLUMN `lease_node` varchar(128) NOT NULL DEFAULT '',
  ADD COLUMN `lease_until` datetime(6) NULL;
CREATE TABLE IF NOT EXISTS `{prefix}mega_task_openids` (
  `task_id` bigint unsigned NOT NULL,
  `part` int unsigned NOT NULL,
  `text` longblob NOT NULL,
  PRIMARY KEY (`task_id`, `part`)
) ENGINE=InnoDB;
INSERT IGNORE INTO `{prefix}mega_schema` (version, applied_at) VALUES (11, UNIX_TIMESTAMP());
