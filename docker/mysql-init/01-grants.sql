-- The pipeline's worker account may create and write every schema with the pipeline prefix.
GRANT ALL PRIVILEGES ON `iblpipe\_%`.* TO 'iblpipe'@'%';
