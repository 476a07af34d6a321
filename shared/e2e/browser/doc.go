// Package browser proves the kiosk flow in a real headless Chromium: its
// tests build attesta-hub and attesta-collector, run them as processes on
// loopback and drive the collector's touch UI with chromedp, then check
// what reached the collector's outbox and the hub.
//
// The package has no code of its own; everything is in its tests. Without
// Chromium the tests skip, except under CI=true where they fail.
package browser
