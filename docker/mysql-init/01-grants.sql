-- The compose services' account (MYSQL_USER iblpipe) is a worker, as `iblpipe db grant --worker`
-- makes one (see iblpipe/roles.py): it creates and writes every schema with the pipeline prefix,
-- DataJoint's jobs (~~table) and ~lineage tables included, but cannot drop them. Dropping, and
-- granting analysts (`iblpipe db grant --analyst NAME`), is done as root (MYSQL_ROOT_PASSWORD).
-- Runs once, when the MySQL volume is first initialised; edit the pattern if you change
-- IBLPIPE_SCHEMA_PREFIX (`_` escaped as `\_`).
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, REFERENCES, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES
  ON `iblpipe\_%`.* TO 'iblpipe'@'%';
