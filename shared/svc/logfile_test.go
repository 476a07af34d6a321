package svc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogFileRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "attesta-collector.log")
	l, err := OpenLogFile(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		fmt.Fprintf(l, "line %02d %s\n", i, strings.Repeat("x", 30)) // 40 bytes: two lines per file
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write([]byte("late\n")); err == nil {
		t.Error("write after close succeeded")
	}
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	for file, want := range map[string][]string{
		path:        {"line 08", "line 09"},
		path + ".1": {"line 06", "line 07"},
		path + ".2": {"line 04", "line 05"},
	} {
		got := read(file)
		if n := strings.Count(got, "\n"); n != len(want) {
			t.Errorf("%s has %d lines, want %d: %q", filepath.Base(file), n, len(want), got)
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q: %q", filepath.Base(file), w, got)
			}
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("a third old file kept: %v", err)
	}
	// Reopening appends to the current file and counts its size.
	l, err = OpenLogFile(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fmt.Fprintf(l, "line 10 %s\n", strings.Repeat("x", 30))
	if got := read(path + ".1"); !strings.Contains(got, "line 08") {
		t.Errorf("reopened file did not rotate at its size: .1 = %q", got)
	}
}

func TestLogOutputIsStderrOffWindows(t *testing.T) {
	var buf bytes.Buffer
	w, closeLog, err := LogOutput(&buf, t.TempDir(), "attesta-hub")
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	if w != &buf {
		t.Error("log does not go to stderr on this platform")
	}
}
