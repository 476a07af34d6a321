package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/apperr"
)

// withStdin runs f with the commands' standard input reading s.
func withStdin(t *testing.T, s string, f func()) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(s)
	defer func() { stdin = old }()
	f()
}

func TestUserCommands(t *testing.T) {
	data := t.TempDir()
	var err error
	withStdin(t, "correct horse battery\n", func() { _, err = run(t, "user", "add", "DPO", "--password-stdin", "--data", data) })
	if err != nil {
		t.Fatalf("user add: %v", err)
	}
	withStdin(t, "correct horse battery\n", func() { _, err = run(t, "user", "add", "dpo", "--password-stdin", "--data", data) })
	if apperr.Code(err) != apperr.ECONFLICT {
		t.Errorf("adding dpo twice: %v", err)
	}
	withStdin(t, "short\n", func() { _, err = run(t, "user", "add", "ops", "--password-stdin", "--data", data) })
	if err == nil || !strings.Contains(apperr.Message(err), "at least 10") {
		t.Errorf("a short password: %v", err)
	}
	withStdin(t, "", func() { _, err = run(t, "user", "add", "ops", "--password-stdin", "--data", data) })
	if err == nil || !strings.Contains(apperr.Message(err), "no password") {
		t.Errorf("empty stdin: %v", err)
	}
	// Without --password-stdin the password comes from a terminal only.
	withStdin(t, "correct horse battery\n", func() { _, err = run(t, "user", "add", "ops", "--data", data) })
	if err == nil || !strings.Contains(apperr.Message(err), "not a terminal") {
		t.Errorf("no terminal, no --password-stdin: %v", err)
	}
	// Never as an argument.
	withStdin(t, "", func() { _, err = run(t, "user", "add", "ops", "correct horse battery", "--data", data) })
	if err == nil || !strings.Contains(apperr.Message(err), "takes one login") {
		t.Errorf("password as an argument: %v", err)
	}
	out, err := run(t, "user", "list", "--data", data)
	if err != nil || !strings.Contains(out, "dpo") || strings.Contains(out, "ops") || !strings.Contains(out, "never") {
		t.Fatalf("user list: %v\n%s", err, out)
	}

	// passwd replaces the hash and ends the user's sessions.
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(data, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := st.Now()
	if err := st.CreateSession(ctx, hub.Session{ID: "s1", Login: "dpo", CSRF: "c", CreatedAt: now, SeenAt: now}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	withStdin(t, "another good password\n", func() { _, err = run(t, "user", "passwd", "dpo", "--password-stdin", "--data", data) })
	if err != nil {
		t.Fatalf("user passwd: %v", err)
	}
	st, err = sqlite.Open(ctx, filepath.Join(data, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Session(ctx, "s1"); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("the session survived a password change: %v", err)
	}
	h, _ := st.PasswordHash(ctx, "dpo")
	if !hub.CheckPassword(h, "another good password") || hub.CheckPassword(h, "correct horse battery") {
		t.Error("passwd did not replace the password")
	}
	if _, err := run(t, "user", "remove", "dpo", "--data", data); err != nil {
		t.Fatalf("user remove: %v", err)
	}
	if _, err := run(t, "user", "remove", "dpo", "--data", data); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("removing twice: %v", err)
	}
	if out, _ := run(t, "user", "list", "--data", data); strings.Contains(out, "dpo") {
		t.Errorf("dpo still listed:\n%s", out)
	}
}
