package http

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

// FuzzReadChecks feeds arbitrary bulk-check bodies to the NDJSON reader:
// it never panics, answers every non-blank line exactly once, in order,
// and each answer is either a query or an error.
func FuzzReadChecks(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@b.it","purpose":"newsletter"}` + "\n" + `{"phone":"3331234567","purpose":"sms","ref":"x"}`,
		"{not json\n\n\n{}\n",
		`{"email":"a@b.it","phone":"1","purpose":"sms"}` + "\r\n" + `{"email":"a@b.it","purpose":"astrology"}`,
		string(bytes.Repeat([]byte("x"), 5000)) + "\n{}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		last := 0
		err := readChecks(context.Background(), bytes.NewReader(body), func(c *chunk) error {
			if len(c.cls) != len(c.at) {
				t.Fatalf("%d decoded lines, %d positions", len(c.cls), len(c.at))
			}
			queries := 0
			for _, l := range c.lines {
				if l.Line <= last {
					t.Fatalf("line %d after %d", l.Line, last)
				}
				last = l.Line
				if l.Error == nil {
					queries++
				}
			}
			if queries != len(c.cls) {
				t.Fatalf("%d lines without error, %d decoded", queries, len(c.cls))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("reading from memory failed: %v", err)
		}
	})
}

// FuzzDecodeCheckLine: whatever the fast path accepts, encoding/json reads
// the same way; what it refuses still gets encoding/json's answer; and no
// line is accepted unless it is one JSON value, nothing after it.
func FuzzDecodeCheckLine(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@b.it","purpose":"newsletter"}`,
		` { "phone" : "+39 333 123 4567" , "purpose":"sms", "ref":"row-7" } `,
		`{}`, `{"email":"a@b.it","email":"c@d.it"}`, `{"EMAIL":"a@b.it"}`, `{"email":null}`,
		`{"email":"a\u0040b.it","purpose":"sms"}`, `{"email":"è@b.it"}`, `{"email":"a@b.it"} x`,
		`{"email":"a@b.it"}{}`, `{"email":"a@b.it"}]`, `{"email":"a@b.it"}` + "\u00a0", `{"purpose":1}`, `{"other":"x"}`, `[]`, `"x"`, `{"email":"a@b.it",}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fast, ok := fastCheckLine(line)
		slow, err := slowCheckLine(line)
		if ok && (err != nil || fast != slow) {
			t.Fatalf("fast path read %q as %+v; encoding/json: %+v, %v", line, fast, slow, err)
		}
		if err == nil && !json.Valid(line) {
			t.Fatalf("slowCheckLine accepted %q, which is not one JSON value, as %+v", line, slow)
		}
		got, gerr := decodeCheckLine(line)
		if (gerr == nil) != (err == nil) || got != slow {
			t.Fatalf("decodeCheckLine(%q) = %+v, %v; encoding/json: %+v, %v", line, got, gerr, slow, err)
		}
	})
}
