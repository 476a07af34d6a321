// Package e2e holds Attesta's end-to-end tests and their small harness:
// real attesta-hub and attesta-collector processes on loopback (built once
// per test run), data folders under t.TempDir, a real TCP proxy that can cut
// connections between them, and a wire-level fake collector for input no
// honest collector would send.
//
// The tests prove issue 2's "must show" list: an offline backlog arrives
// exactly once, cut connections lose and double nothing, killed processes
// lose nothing they answered for, bad input is quarantined or refused while
// the rest syncs, skewed clocks are flagged, a restored database shows up as
// a fork, and a hub restart loses nothing it acknowledged.
//
// They also prove issue 5's: SIGTERM to the hub or the collector in the
// middle of a large sync exits within the shutdown timeout and loses or
// doubles nothing, bad settings are refused at start by name, /metrics
// parses with the Prometheus text parser and follows a sync, and no
// personal data reaches a log.
//
// Set ATTESTA_E2E_RACE=1 to build the programs with -race as well; a data
// race in a child process then fails the test that ran it.
package e2e
