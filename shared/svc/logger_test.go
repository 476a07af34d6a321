package svc

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNewLogger(t *testing.T) {
	var b bytes.Buffer
	l, err := NewLogger(&b, "warn", "json")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("quiet")
	l.Warn("loud", "device", "d1")
	var line map[string]any
	if err := json.Unmarshal(b.Bytes(), &line); err != nil || line["msg"] != "loud" || line["device"] != "d1" {
		t.Fatalf("json log %q: %v", b.String(), err)
	}
	b.Reset()
	l, _ = NewLogger(&b, "debug", "text")
	l.Debug("detail", "n", 1)
	if !strings.Contains(b.String(), "level=DEBUG msg=detail n=1") {
		t.Fatalf("text log %q", b.String())
	}
	if _, err := NewLogger(&b, "loud", "text"); err == nil {
		t.Error("level loud accepted")
	}
	if _, err := NewLogger(&b, "info", "xml"); err == nil {
		t.Error("format xml accepted")
	}
}
