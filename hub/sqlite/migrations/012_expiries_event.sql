-- Whether a grant's expiry was announced, by the grant: a new grant after
-- it is news to receivers (expired → allowed) even though both are grants.
CREATE INDEX expiries_event ON expiries (event_id, purpose);
