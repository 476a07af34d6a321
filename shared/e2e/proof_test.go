package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// getProof downloads GET /api/v1/proofs/<id> with token ("" for none).
func getProof(t *testing.T, h *Hub, id, token string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", h.URL()+"/api/v1/proofs/"+id, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// verifyBundle writes a bundle to a file and runs the real
// 'attesta-hub proof verify' on it.
func verifyBundle(t *testing.T, name string, z []byte) (stdout, stderr string, err error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, z, 0o600); err != nil {
		t.Fatal(err)
	}
	return RunErr(Binaries.Hub, "proof", "verify", path)
}

// rewriteEntry makes a new zip of the same files with one entry's bytes
// changed by edit, as any zip tool would write it.
func rewriteEntry(t *testing.T, z []byte, name string, edit func([]byte) []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := zip.NewWriter(&out)
	found := false
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == name {
			data, found = edit(data), true
		}
		fw, _ := w.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		fw.Write(data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("no %s in the bundle", name)
	}
	return out.Bytes()
}

// A consent captured at a kiosk and synced can be proved: the bundle the
// hub serves passes the real 'attesta-hub proof verify', a changed byte in
// its payload makes it INVALID naming the payload, and the endpoint
// refuses clearly without a token, with the wrong scope and for an
// unknown id. A withdrawal made on the receipt page proves with the hub as
// its device.
func TestProofBundleEndToEnd(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Booth B12"))
	c.Start()

	// The consent to prove, with its receipt URL, and one more after it so
	// the chain has a successor.
	resp, err := c.http.Post(c.URL()+"/api/v1/consents", "application/json", bytes.NewReader(CaptureBody(captureSeq.Add(1))))
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID         string `json:"id"`
		ReceiptURL string `json:"receipt_url"`
	}
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || created.ID == "" || created.ReceiptURL == "" {
		t.Fatalf("capture: %s %+v", resp.Status, created)
	}
	later := c.CaptureN(1, 1)
	c.WaitSynced(60 * time.Second)
	waitConsents(t, h, c.ID, append(later, created.ID), 30*time.Second)

	start := time.Now()
	resp, z := getProof(t, h, created.ID, h.Token())
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), `filename="attesta-proof-`+created.ID+`.zip"`) {
		t.Fatalf("GET proof: %s %v %.300s", resp.Status, resp.Header, z)
	}
	out, errOut, err := verifyBundle(t, "attesta-proof-"+created.ID+".zip", z)
	t.Logf("bundle of %d bytes downloaded and verified in %s", len(z), time.Since(start).Round(time.Millisecond))
	if err != nil || !strings.HasSuffix(out, "VALID\n") || strings.Contains(out, "INVALID") {
		t.Fatalf("proof verify: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{
		"ok    payload (record/payload.json): sha256 matches envelope payload_sha256",
		"ok    notice text (notices/privacy-it/v1.txt)",
		"ok    signature image (record/signature.png)",
		"ok    signature svg (record/signature.svg)",
		"ok    device key (devices/" + c.ID + "/)",
		"notice_viewed record",          // the presa visione came along
		"2 later record(s), seq 2 to 4", // the later capture: its notice view and consent
		"it reaches the hub's acknowledged head",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	// The fingerprint it prints is the one head office publishes.
	key := Run(t, Binaries.Hub, "proof", "key", "--data", h.Dir)
	fp := strings.TrimSpace(strings.SplitN(strings.SplitN(key, "SHA-256 fingerprint:", 2)[1], "\n", 2)[0])
	if fp == "" || !strings.Contains(out, "hub key SHA-256: "+fp) {
		t.Errorf("verify output does not show the hub key fingerprint %q:\n%s", fp, out)
	}

	// One byte of the payload changed, the zip rewritten around it.
	bad := rewriteEntry(t, z, "record/payload.json", func(b []byte) []byte {
		b = append([]byte(nil), b...)
		b[len(b)/2] ^= 0x20
		return b
	})
	out, errOut, err = verifyBundle(t, "tampered.zip", bad)
	if err == nil || !strings.Contains(out, "INVALID") || !strings.Contains(errOut, "is INVALID") {
		t.Fatalf("tampered bundle: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{
		"FAIL  payload (record/payload.json): sha256 ",
		"does not match envelope payload_sha256",
		"FAIL  manifest (manifest.json): file record/payload.json altered",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tampered verify output lacks %q:\n%s", want, out)
		}
	}

	// Refusals, each saying why.
	check := strings.TrimSpace(Run(t, Binaries.Hub, "token", "create", "--data", h.Dir, "--scope", "check"))
	unknown, _ := uuid.NewV7()
	for _, tc := range []struct {
		name, id, token string
		status          int
		says            string
	}{
		{"no token", created.ID, "", 401, "missing bearer token"},
		{"check scope", created.ID, check, 403, `this token has scope "check"; this endpoint needs "read"`},
		{"unknown id", unknown.String(), h.Token(), 404, "no record " + unknown.String() + " at the hub"},
	} {
		resp, body := getProof(t, h, tc.id, tc.token)
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		json.Unmarshal(body, &e)
		if resp.StatusCode != tc.status || !strings.Contains(e.Error.Message, tc.says) {
			t.Errorf("%s: %s %s, want %d saying %q", tc.name, resp.Status, body, tc.status, tc.says)
		}
	}

	// Withdraw on the receipt page; the withdrawal proves with the hub as its device.
	form := url.Values{"purpose": {"newsletter"}}
	resp, err = h.http.PostForm(created.ReceiptURL, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("withdraw on the receipt page: %s", resp.Status)
	}
	var withdrawal string
	for _, e := range h.MustEvents() {
		if e.Kind == "withdrawn" && e.Ref == created.ID {
			withdrawal = e.ID
		}
	}
	if withdrawal == "" {
		t.Fatal("no withdrawal event after withdrawing")
	}
	_, z = getProof(t, h, withdrawal, h.Token())
	out, errOut, err = verifyBundle(t, "withdrawal.zip", z)
	if err != nil || !strings.HasSuffix(out, "VALID\n") || !strings.Contains(out, "of hub, seq 1; hub signature verifies") ||
		!strings.Contains(out, "related/"+created.ID+"/payload.json") {
		t.Fatalf("withdrawal bundle: %v\n%s%s", err, out, errOut)
	}
}
