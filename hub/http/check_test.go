package http_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
)

// consent stores a verified consent as the sync would.
func consent(t *testing.T, st *sqlite.Store, seq uint64, person record.Subject, choices map[string]bool) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	payload, _ := json.Marshal(record.Payload{Subject: person, Salt: []byte{1}})
	id, _ := uuid.NewV7()
	now := time.Now()
	env := &record.Envelope{Schema: 1, ID: id.String(), Kind: record.Given, Collector: "fair", Epoch: "ep", Seq: seq,
		CapturedAt: now.Format(time.RFC3339Nano), HLC: hlc.New(now.UnixMilli(), 0), Touchpoint: "fair-milano-b12", Language: "it",
		Notice: record.NoticeRef{ID: "privacy-it", Version: 1, SHA256: strings.Repeat("ab", 32)}, PayloadSHA256: record.PayloadHash(payload), Sealed: []byte{1}}
	for _, code := range []string{"newsletter", "sms", "profiling"} {
		if g, ok := choices[code]; ok {
			env.Purposes = append(env.Purposes, record.Choice{Purpose: code, DPV: "dpv:DirectMarketing", Granted: g, RetentionDays: 730})
		}
	}
	s, _ := record.Sign(env, priv)
	in := hub.Incoming{Signed: s, Env: env, Hash: s.HashHex(), Payload: payload, Subject: &person, ReceivedAt: now, CorrectedAt: now, Countersig: []byte{1}}
	if res, err := st.Ingest(context.Background(), "fair", []hub.Incoming{in}); err != nil || res.Accepted != 1 {
		t.Fatalf("ingest %+v %v", res, err)
	}
	return env.ID
}

func do(t *testing.T, method, url, token, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestCheckAPI(t *testing.T) {
	s, st := mustServe(t)
	ctx := context.Background()
	check, _ := st.CreateToken(ctx, hub.ScopeCheck)
	read, _ := st.CreateToken(ctx, hub.ScopeRead)
	admin, _ := st.CreateToken(ctx, hub.ScopeAdmin)
	ev := consent(t, st, 1, record.Subject{GivenName: "Mario", FamilyName: "Rossi", Email: "Mario.Rossi@esempio.it", Phone: "+39 333 123 4567"},
		map[string]bool{"newsletter": true, "sms": false})

	for _, c := range []struct {
		method, path, token, body string
		status                    int
		says                      string
	}{
		{"GET", "/api/v1/check?email=mario.rossi@esempio.it&purpose=newsletter", "", "", 401, "missing bearer token"},
		{"GET", "/api/v1/check?email=mario.rossi@esempio.it&purpose=newsletter", "att_nope", "", 401, "unknown"},
		{"GET", "/api/v1/check?email=+MARIO.rossi@Esempio.it+&purpose=newsletter", check, "", 200, `"decision": "allowed"`},
		{"GET", "/api/v1/check?phone=3331234567&purpose=newsletter", check, "", 200, ev},
		{"GET", "/api/v1/check?phone=3331234567&purpose=sms", check, "", 200, `"decision": "denied"`},
		{"GET", "/api/v1/check?email=nobody@esempio.it&purpose=sms", check, "", 200, `"decision": "unknown"`},
		{"GET", "/api/v1/check?email=mario.rossi@esempio.it&purpose=astrology", check, "", 400, `purpose "astrology" is not in the catalog`},
		{"GET", "/api/v1/check?purpose=sms", check, "", 400, "email or phone is required"},
		{"GET", "/api/v1/check?email=mario&purpose=sms", check, "", 400, "not an address"},
		{"GET", "/api/v1/check?phone=12&purpose=sms", check, "", 400, "not a valid number"},
		{"GET", "/api/v1/check?email=a@b.it&phone=3331234567&purpose=sms", check, "", 400, "not both"},
		{"GET", "/api/v1/check?email=a@b.it", check, "", 400, "purpose is required"},
		{"GET", "/api/v1/subjects?email=mario.rossi@esempio.it", check, "", 403, `needs "read"`},
		{"GET", "/api/v1/subjects?email=mario.rossi@esempio.it", read, "", 200, `"value": "+393331234567"`},
		{"GET", "/api/v1/subjects?email=nobody@esempio.it", read, "", 404, "no subject has email"},
		{"GET", "/api/v1/subjects/nope", read, "", 404, "subject nope does not exist"},
		{"GET", "/api/v1/subjects/nope/export", read, "", 404, "does not exist"},
		{"GET", "/api/v1/events?format=xml", read, "", 400, "format must be"},
		{"POST", "/api/v1/withdrawals", check, `{"email":"mario.rossi@esempio.it","purposes":["newsletter"]}`, 400, "channel is required"},
		{"POST", "/api/v1/withdrawals", check, `{"email":"mario.rossi@esempio.it","purposes":["astrology"],"channel":"newsletter-engine"}`, 400, `purpose "astrology"`},
		{"POST", "/api/v1/withdrawals", check, `{"email":"mario.rossi@esempio.it","purposes":["newsletter"],"channel":"fair-milano-b12"}`, 400, "not a right or engage touchpoint"},
		{"POST", "/api/v1/withdrawals", check, `{"email":"nobody@esempio.it","purposes":["newsletter"],"channel":"newsletter-engine"}`, 404, "no subject"},
		{"POST", "/api/v1/withdrawals", check, `{"email":"x@y.it","subject_id":"s","purposes":["newsletter"],"channel":"newsletter-engine"}`, 400, "one of email"},
		{"POST", "/api/v1/withdrawals", check, `{"mail":"x@y.it"}`, 400, "unknown field"},
		{"POST", "/api/v1/suggestions/1", read, `{"action":"merge","by":"me"}`, 403, `needs "admin"`},
		{"POST", "/api/v1/suggestions/1", admin, `{"action":"marry","by":"me"}`, 400, `"merge"|"reject"`},
		{"POST", "/api/v1/suggestions/99", admin, `{"action":"merge","by":"me"}`, 404, "suggestion 99 does not exist"},
		{"POST", "/api/v1/merges/x/undo", admin, `{"by":"me"}`, 400, "must be a number"},
		{"POST", "/api/v1/merges/7/undo", admin, `{"by":"me"}`, 404, "merge 7 does not exist"},
		{"POST", "/api/v1/withdrawals", check, `{"phone":"+39 333 1234567","purposes":["newsletter"],"channel":"newsletter-engine"}`, 201, `"decision": "denied"`},
		{"GET", "/api/v1/check?email=mario.rossi@esempio.it&purpose=newsletter", check, "", 200, `"decision": "denied"`},
	} {
		resp, body := do(t, c.method, s.URL()+c.path, c.token, c.body)
		var e struct{ Error struct{ Message string } }
		json.Unmarshal([]byte(body), &e)
		if resp.StatusCode != c.status || !strings.Contains(body, c.says) && !strings.Contains(e.Error.Message, c.says) {
			t.Errorf("%s %s: %d %s\nwant %d saying %s", c.method, c.path, resp.StatusCode, body, c.status, c.says)
		}
	}

	resp, body := do(t, "GET", s.URL()+"/api/v1/subjects?phone=%2B393331234567", read, "")
	var sub hub.Subject
	json.Unmarshal([]byte(body), &sub)
	if resp.StatusCode != 200 || len(sub.Events) != 2 || len(sub.History) != 3 {
		t.Fatalf("subject: %s", body)
	}
	resp, body = do(t, "GET", s.URL()+"/api/v1/subjects/"+sub.ID+"/export", read, "")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(body, `"given_name": "Mario"`) || !strings.Contains(body, sqlite.ExportFormat) {
		t.Fatalf("export: %d %s", resp.StatusCode, body)
	}
}

func TestBulkCheck(t *testing.T) {
	s, st := mustServe(t)
	ctx := context.Background()
	check, _ := st.CreateToken(ctx, hub.ScopeCheck)
	for i := range 600 {
		p := record.Subject{GivenName: "P", FamilyName: fmt.Sprint(i), Email: fmt.Sprintf("p%d@esempio.it", i)}
		if i < 20 {
			p.Phone = fmt.Sprintf("333 000 %04d", i)
		}
		consent(t, st, uint64(i+1), p, map[string]bool{"newsletter": i%2 == 0})
	}
	// Numbers, however written: held ones answer at once in compact form,
	// others are parsed (and refused when invalid).
	phones := map[int][2]string{
		10: {"+39 333 000 0002", hub.Allowed},
		11: {"+39-333-000-0003", hub.Denied},
		12: {"+39 333 999 9999", hub.Unknown},
		13: {"+99 1234 5678", `error:line 14: phone "+99 1234 5678" is not a valid number (region IT)`},
		14: {"333 000 0004", hub.Allowed},
		15: {"+39 (333) 000-0005", hub.Denied},
	}
	var in strings.Builder
	want := map[int]string{}
	line := 0
	for i := range 1300 {
		line++
		switch {
		case i == 5:
			in.WriteString("{not json\n")
			want[line] = "error:line 6 is not a JSON object"
		case i == 6:
			in.WriteString(`{"email":"p1@esempio.it","purpose":"astrology"}` + "\n")
			want[line] = `error:line 7: purpose "astrology" is not in the catalog`
		case i == 7:
			in.WriteString(`{"email":"p1@esempio.it","purpose":"sms","surprise":1}` + "\n")
			want[line] = `error:line 8 is not a JSON object {"email"|"phone", "purpose"}: json: unknown field "surprise"`
		case i == 8:
			in.WriteString(`{"email":"` + strings.Repeat("x", 5000) + `","purpose":"sms"}` + "\n")
			want[line] = "error:line 9 is longer than 4096 bytes"
		case i == 9:
			in.WriteString("\n") // blank: skipped, still counted
			want[line] = ""
		case i == 16: // two checks on one line would answer only the first
			in.WriteString(`{"email":"p1@esempio.it","purpose":"newsletter"}{"email":"p2@esempio.it","purpose":"newsletter"}` + "\n")
			want[line] = `error:line 17 is not a JSON object {"email"|"phone", "purpose"}: more follows the object at byte 49`
		case i == 17:
			in.WriteString(`{"email":"p1@esempio.it","purpose":"newsletter"} trailing garbage` + "\n")
			want[line] = `error:line 18 is not a JSON object {"email"|"phone", "purpose"}: more follows the object at byte 50`
		case phones[i][0] != "":
			fmt.Fprintf(&in, `{"phone":%q,"purpose":"newsletter","ref":"crm-%d"}`+"\n", phones[i][0], i)
			want[line] = phones[i][1]
		default:
			n := i % 700
			fmt.Fprintf(&in, `{"email":" P%d@Esempio.it","purpose":"newsletter","ref":"crm-%d"}`+"\n", n, i)
			switch {
			case n >= 600:
				want[line] = hub.Unknown
			case n%2 == 0:
				want[line] = hub.Allowed
			default:
				want[line] = hub.Denied
			}
		}
	}
	req, _ := http.NewRequest("POST", s.URL()+"/api/v1/check", strings.NewReader(in.String()))
	req.Header.Set("Authorization", "Bearer "+check)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	got := 0
	last := 0
	for sc.Scan() {
		var r struct {
			Line     int    `json:"line"`
			Ref      string `json:"ref"`
			Decision string `json:"decision"`
			Error    *struct{ Code, Message string }
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("answer %q: %v", sc.Text(), err)
		}
		if r.Line <= last {
			t.Fatalf("line %d after %d: out of order", r.Line, last)
		}
		last = r.Line
		got++
		w := want[r.Line]
		if msg, ok := strings.CutPrefix(w, "error:"); ok {
			if r.Error == nil || r.Error.Code != "invalid" || !strings.HasPrefix(r.Error.Message, msg) {
				t.Errorf("line %d: %s, want error %q", r.Line, sc.Text(), msg)
			}
			continue
		}
		if r.Decision != w || r.Ref != fmt.Sprintf("crm-%d", r.Line-1) {
			t.Errorf("line %d: %s, want %s", r.Line, sc.Text(), w)
		}
	}
	if got != 1299 {
		t.Fatalf("%d answers for 1299 non-blank lines", got)
	}
}

func TestEventsCSVAndReceipts(t *testing.T) {
	s, st := mustServe(t)
	read, _ := st.CreateToken(context.Background(), hub.ScopeRead)
	id := consent(t, st, 1, record.Subject{GivenName: "=HYPERLINK(\"http://evil\")", FamilyName: "Rossi", Email: "m@esempio.it", Phone: "+393331234567"},
		map[string]bool{"newsletter": true, "sms": false})
	resp, body := do(t, "GET", s.URL()+"/api/v1/events?format=csv", read, "")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || resp.StatusCode != 200 || len(rows) != 2 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv %d %v %s", resp.StatusCode, err, body)
	}
	col := map[string]string{}
	for i, h := range rows[0] {
		col[h] = rows[1][i]
	}
	if col["id"] != id || col["granted"] != "newsletter" || col["refused"] != "sms" || col["phone"] != "+393331234567" ||
		col["given_name"] != `'=HYPERLINK("http://evil")` {
		t.Fatalf("csv row %v", col)
	}
	resp, body = do(t, "GET", s.URL()+"/api/v1/events?format=receipt", read, "")
	var rc map[string]any
	if err := json.Unmarshal([]byte(body), &rc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("receipt %d %v %s", resp.StatusCode, err, body)
	}
	svc := rc["services"].([]any)[0].(map[string]any)
	if rc["version"] != "KI-CR-v1.1.0" || rc["consentReceiptID"] != id || rc["piiPrincipalId"] != "m@esempio.it" ||
		len(svc["purposes"].([]any)) != 1 || !strings.Contains(rc["policyUrl"].(string), "/n/privacy-it/1?sha256=") {
		t.Fatalf("receipt %s", body)
	}
}
