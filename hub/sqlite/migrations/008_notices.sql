-- Every notice version ever published, first seen at config log seq. The
-- primary key makes a version immutable at the database, whichever process
-- publishes; the text stays for proofs and the public notice pages after
-- newer versions replace it. Filled from the log published so far.
CREATE TABLE notices (
	id           TEXT NOT NULL,
	version      INTEGER NOT NULL,
	language     TEXT NOT NULL,
	title        TEXT NOT NULL,
	summary      TEXT NOT NULL,
	text         TEXT NOT NULL,
	sha256       TEXT NOT NULL,
	seq          INTEGER NOT NULL REFERENCES config_log (seq),
	published_at TEXT NOT NULL,
	PRIMARY KEY (id, version)
) STRICT;

INSERT OR IGNORE INTO notices (id, version, language, title, summary, text, sha256, seq, published_at)
	SELECT json_extract(n.value, '$.id'), json_extract(n.value, '$.version'), COALESCE(json_extract(n.value, '$.language'), ''),
		COALESCE(json_extract(n.value, '$.title'), ''), COALESCE(json_extract(n.value, '$.summary'), ''),
		json_extract(n.value, '$.text'), json_extract(n.value, '$.sha256'), c.seq, c.created_at
	FROM config_log c, json_each(c.catalog, '$.notices') n
	ORDER BY c.seq;
