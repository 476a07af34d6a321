-- When each notice's current version arrived on this kiosk. A visitor who
-- started on the version it replaced may finish within the grace, counted
-- from here: not from the last configuration change of any kind, which may
-- have been a touchpoint or purpose edit long after the notice changed.
CREATE TABLE notice_active (
	id      TEXT PRIMARY KEY,
	version INTEGER NOT NULL,
	since   TEXT NOT NULL
) STRICT;

-- A kiosk upgraded in place: its notices arrived no later than its config.
INSERT INTO notice_active (id, version, since)
	SELECT json_extract(n.value, '$.id'), MAX(json_extract(n.value, '$.version')), config.applied_at
	FROM config, json_each(config.catalog, '$.notices') AS n
	GROUP BY json_extract(n.value, '$.id');
