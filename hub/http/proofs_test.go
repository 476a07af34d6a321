package http_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/proof"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/seal"
)

func TestProofEndpoint(t *testing.T) {
	ctx := context.Background()
	s, st := mustServe(t)
	read, _ := st.CreateToken(ctx, hub.ScopeRead)
	check, _ := st.CreateToken(ctx, hub.ScopeCheck)

	// One consent from an enrolled device, through the hub's verifier.
	keys, _ := st.Keys(ctx)
	en, _ := st.CreateEnrollment(ctx, "Booth", "fair-milano-b12", time.Hour)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	dev, err := st.Enroll(ctx, en.Code, pub, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(record.Payload{Subject: record.Subject{GivenName: "Ada", FamilyName: "L", Email: "a@x.it"}, Salt: []byte{1}})
	box, _ := seal.Seal(&keys.SealPub, payload)
	id, _ := uuid.NewV7()
	signed, _ := record.Sign(&record.Envelope{Schema: 1, ID: id.String(), Kind: record.Given, Collector: dev.Device.ID, Epoch: "e1", Seq: 1,
		CapturedAt: time.Now().Format(time.RFC3339Nano), HLC: hlc.New(time.Now().UnixMilli(), 0), Touchpoint: "fair-milano-b12",
		Purposes: []record.Choice{{Purpose: "newsletter", Granted: true}}, PayloadSHA256: record.PayloadHash(payload), Sealed: box}, priv)
	v := &hub.Verifier{Device: dev.Device, Keys: keys, SkewBound: time.Minute, Now: time.Now}
	if _, err := st.Ingest(ctx, dev.Device.ID, []hub.Incoming{v.Verify(signed)}); err != nil {
		t.Fatal(err)
	}

	unknown, _ := uuid.NewV7()
	for _, c := range []struct {
		path, token string
		status      int
		says        string
	}{
		{"/api/v1/proofs/" + id.String(), "", 401, "missing bearer token"},
		{"/api/v1/proofs/" + id.String(), check, 403, `needs "read"`},
		{"/api/v1/proofs/" + unknown.String(), read, 404, "no record " + unknown.String()},
		{"/api/v1/proofs/NOT-AN-ID", read, 400, "is not a record id"},
	} {
		status, body := get(t, s.URL()+c.path, c.token)
		msg, _ := body["error"].(map[string]any)["message"].(string)
		if status != c.status || !strings.Contains(msg, c.says) {
			t.Errorf("%s: %d %q, want %d saying %q", c.path, status, msg, c.status, c.says)
		}
	}

	req, _ := http.NewRequest("GET", s.URL()+"/api/v1/proofs/"+id.String(), nil)
	req.Header.Set("Authorization", "Bearer "+read)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	z, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="attesta-proof-`+id.String()+`.zip"` {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	rep := proof.Verify(z)
	if !rep.Valid || rep.EventID != id.String() || rep.Fingerprint != proof.Fingerprint(keys.SignPub) {
		var b strings.Builder
		rep.WriteText(&b)
		t.Fatalf("served bundle:\n%s", b.String())
	}
}
