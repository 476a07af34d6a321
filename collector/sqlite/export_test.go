package sqlite

// Migrations are the outbox's schema steps, for upgrade tests.
var Migrations = migrations
