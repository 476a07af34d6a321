package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
)

// The request commands from creation to completion, as a script uses them.
func TestRequestCommands(t *testing.T) {
	data := t.TempDir()
	out, err := run(t, "request", "create", "--data", data, "--kind", "access", "--email", "Someone@Example.com", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r hub.Request
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Identifier.Value != "someone@example.com" || r.Channel != "dashboard" {
		t.Fatalf("create: %s %v", out, err)
	}
	if _, err := run(t, "request", "create", "--data", data, "--kind", "delete", "--email", "a@example.com"); apperr.Code(err) != apperr.EINVALID ||
		!strings.Contains(apperr.Message(err), `kind "delete"`) {
		t.Fatalf("bad kind: %v", err)
	}
	if _, err := run(t, "request", "create", "--data", data, "--time-zone", "Mars/Olympus", "--kind", "access", "--email", "a@example.com"); err == nil ||
		!strings.Contains(err.Error(), "IANA") {
		t.Fatalf("an unknown time zone: %v", err)
	}
	out, err = run(t, "request", "list", "--data", data)
	if err != nil || !strings.Contains(out, r.ID) || !strings.Contains(out, "open") {
		t.Fatalf("list: %s %v", out, err)
	}
	out, err = run(t, "request", "act", "--data", data, "--action", "complete", "--by", "it", r.ID, "nope")
	if apperr.Code(err) != apperr.ECONFLICT || !strings.Contains(out, r.ID+"\tdone") || !strings.Contains(out, "nope\tfailed: no request nope") {
		t.Fatalf("act: %s %v", out, err)
	}
	out, err = run(t, "request", "show", "--data", data, r.ID)
	if err != nil || !strings.Contains(out, "outcome") || !strings.Contains(out, "it") || !strings.Contains(out, "complete") {
		t.Fatalf("show: %s %v", out, err)
	}
	out, err = run(t, "request", "export", "--data", data, r.ID)
	if err != nil || !strings.Contains(out, `"records": []`) {
		t.Fatalf("export: %s %v", out, err)
	}
	out, err = run(t, "retention", "run", "--data", data, "--dry-run")
	if err != nil || !strings.Contains(out, "dry run: nothing was changed") || !strings.Contains(out, "would anonymise 0") {
		t.Fatalf("dry run: %s %v", out, err)
	}
	if out, err = run(t, "retention", "runs", "--data", data); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("a dry run was recorded: %s %v", out, err)
	}
	if out, err = run(t, "retention", "run", "--data", data); err != nil || !strings.Contains(out, "anonymised 0") {
		t.Fatalf("run: %s %v", out, err)
	}
	if out, err = run(t, "retention", "runs", "--data", data); err != nil || !strings.Contains(out, "cli") {
		t.Fatalf("runs: %s %v", out, err)
	}
}
