package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/wire"
)

// kioskNotice is a notice as the collector's GET /api/v1/config lists it.
type kioskNotice struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
	Text    string `json:"text"`
	URL     string `json:"url"`
}

// kioskConfig reads the collector's GET /api/v1/config.
func (c *Collector) kioskConfig() (seq int64, notices map[string]kioskNotice, err error) {
	resp, err := c.http.Get(c.URL() + "/api/v1/config")
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var v struct {
		ConfigSeq int64         `json:"config_seq"`
		Notices   []kioskNotice `json:"notices"`
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return 0, nil, fmt.Errorf("GET /api/v1/config: %s %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, nil, err
	}
	notices = map[string]kioskNotice{}
	for _, n := range v.Notices {
		notices[n.ID] = n
	}
	return v.ConfigSeq, notices, nil
}

// waitKioskNotice waits until the kiosk shows version of notice id.
func (c *Collector) waitKioskNotice(t *testing.T, id string, version int) kioskNotice {
	t.Helper()
	var got kioskNotice
	Eventually(t, 30*time.Second, fmt.Sprintf("the kiosk shows %s version %d", id, version), func() (bool, string) {
		_, ns, err := c.kioskConfig()
		if err != nil {
			return false, err.Error()
		}
		got = ns[id]
		return got.Version == version, fmt.Sprintf("shows %+v", got)
	})
	return got
}

// captureCiting is a valid capture naming version of notice privacy-it.
func captureCiting(version int) []byte {
	var v map[string]any
	json.Unmarshal(CaptureBody(captureSeq.Add(1)), &v)
	v["notice"] = map[string]any{"id": "privacy-it", "version": version}
	b, _ := json.Marshal(v)
	return b
}

// captureRefusal posts a capture that must be refused and returns the
// status and the error body.
func (c *Collector) captureRefusal(t *testing.T, body []byte) (int, map[string]string) {
	t.Helper()
	resp, err := c.http.Post(c.URL()+"/api/v1/consents", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Error map[string]string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v.Error
}

func publishNoticeCLI(t *testing.T, h *Hub, version int, text string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), fmt.Sprintf("privacy-it.v%d.md", version))
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out := Run(t, Binaries.Hub, "notice", "publish", file, "--id", "privacy-it", "--version", fmt.Sprint(version), "--language", "it", "--data", h.Dir)
	if !strings.Contains(out, fmt.Sprintf("published notice privacy-it version %d", version)) {
		t.Fatalf("notice publish printed %q", out)
	}
}

func (h *Hub) adminToken(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(Run(t, Binaries.Hub, "token", "create", "--data", h.Dir, "--scope", "admin"))
}

func (h *Hub) api(t *testing.T, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, h.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

func (h *Hub) publicPage(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := h.http.Get(h.URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A notice version published at the hub, from the command line against the
// data folder and through the API, reaches a running collector without a
// restart; captures citing it are accepted and reach the hub naming it;
// the replaced versions are still served; a visitor in flight on the
// version just replaced finishes on it; older or unknown versions are
// refused with a 400 naming the notice.
func TestNoticePublishedReachesCollector(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Booth B12"))
	c.Start()
	v1 := c.waitKioskNotice(t, "privacy-it", 1)
	if _, err := c.CaptureJSON(captureCiting(1)); err != nil {
		t.Fatal(err)
	}
	c.WaitSynced(30 * time.Second)

	// The command line, against the data folder of the running hub.
	publishNoticeCLI(t, h, 2, "# Informativa\n\nVersione 2: nuovi partner.\n")
	v2 := c.waitKioskNotice(t, "privacy-it", 2)
	if v2.SHA256 == v1.SHA256 || !strings.Contains(v2.Text, "Versione 2") || !strings.Contains(v2.URL, "/n/privacy-it/2?sha256="+v2.SHA256) {
		t.Fatalf("kiosk notice v2: %+v", v2)
	}
	id2, err := c.CaptureJSON(captureCiting(2))
	if err != nil {
		t.Fatal(err)
	}

	// The API.
	admin := h.adminToken(t)
	code, body := h.api(t, "POST", "/api/v1/notices", admin,
		`{"id":"privacy-it","version":3,"language":"it","title":"Informativa","summary":"Breve.","text":"# Informativa\n\nVersione 3.\n"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST /api/v1/notices: %d %v", code, body)
	}
	c.waitKioskNotice(t, "privacy-it", 3)
	id3, err := c.CaptureJSON(captureCiting(3))
	if err != nil {
		t.Fatal(err)
	}
	// In flight on version 2 when 3 arrived: finishes on 2.
	idInFlight, err := c.CaptureJSON(captureCiting(2))
	if err != nil {
		t.Fatalf("a visitor who started on the version just replaced was refused: %v", err)
	}
	for version, want := range map[int]string{1: "has been replaced", 9: "unknown to this kiosk"} {
		code, e := c.captureRefusal(t, captureCiting(version))
		if code != 400 || e["field"] != "notice" || !strings.Contains(e["message"], want) {
			t.Errorf("capture citing version %d: %d %v, want 400 on notice saying %q", version, code, e, want)
		}
	}

	c.WaitSynced(30 * time.Second)
	versions := map[string]int{}
	for _, ev := range h.MustEvents() {
		if ev.Kind == "given" {
			versions[ev.ID] = ev.Notice.Version
		}
	}
	for id, want := range map[string]int{id2: 2, id3: 3, idInFlight: 2} {
		if versions[id] != want {
			t.Errorf("consent %s reached the hub naming version %d, want %d", id, versions[id], want)
		}
	}

	// Every version keeps its public page, with its own text; a replaced
	// one links to the current version.
	for v, want := range map[int]string{1: v1.SHA256, 2: "Versione 2", 3: "Versione 3"} {
		code, page := h.publicPage(t, fmt.Sprintf("/n/privacy-it/%d", v))
		if code != 200 || !strings.Contains(page, want) {
			t.Errorf("/n/privacy-it/%d: %d (contains %q: %v)", v, code, want, strings.Contains(page, want))
		}
		if replaced := strings.Contains(page, `href="/n/privacy-it/3?sha256=`); replaced != (v < 3) {
			t.Errorf("/n/privacy-it/%d links to the current version 3: %v", v, replaced)
		}
	}
	// The proof of a consent given on version 2, after version 3 replaced
	// it, carries version 2's text and verifies.
	resp, z := getProof(t, h, id2, h.Token())
	if resp.StatusCode != 200 {
		t.Fatalf("proof of %s: %s", id2, resp.Status)
	}
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range zr.File {
		if f.Name == "notices/privacy-it/v2.txt" {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			found = strings.Contains(string(b), "Versione 2")
		}
	}
	if !found {
		t.Error("the proof bundle lacks the text of notice privacy-it version 2")
	}
	if out, stderr, err := verifyBundle(t, "proof.zip", z); err != nil {
		t.Errorf("proof verify: %v\n%s%s", err, out, stderr)
	}

	Eventually(t, 30*time.Second, "the hub sees the collector on the newest config", func() (bool, string) {
		d := h.Device(c.ID)
		return d.ConfigCurrent, fmt.Sprintf("config_seq %d current %v", d.ConfigSeq, d.ConfigCurrent)
	})
}

// A collector offline while two versions are published gets only the
// newest when it comes back, applies it once, acknowledges it, and the
// devices API then shows it current.
func TestOfflineCollectorGetsNewestConfig(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	p := newProxy(t, h)
	c := EnrollCollector(t, p.URL(), h.EnrollCode("Booth B12"))
	c.Start()
	c.CaptureN(2, 1)
	c.WaitSynced(30 * time.Second)
	enrolledSeq := h.Device(c.ID).ConfigSeq

	p.SetDown(true)
	p.CutAll()
	Eventually(t, 30*time.Second, "the collector notices it is offline", func() (bool, string) {
		st, err := c.Status()
		return err == nil && !st.Connected, fmt.Sprintf("%+v %v", st, err)
	})
	publishNoticeCLI(t, h, 2, "# Informativa\n\nVersione 2.\n")
	publishNoticeCLI(t, h, 3, "# Informativa\n\nVersione 3.\n")
	c.CaptureN(3, 1) // the kiosk keeps working on version 1
	if d := h.Device(c.ID); d.ConfigCurrent || d.ConfigSeq != enrolledSeq {
		t.Fatalf("offline device shown as current: %+v", d)
	}
	if _, ns, _ := c.kioskConfig(); ns["privacy-it"].Version != 1 {
		t.Fatalf("offline kiosk shows %+v", ns["privacy-it"])
	}
	if got := behindMetric(t, h); got != "1" {
		t.Errorf("attesta_hub_devices_config_behind %q while the collector is offline, want 1", got)
	}

	p.SetDown(false)
	c.SyncNow()
	c.waitKioskNotice(t, "privacy-it", 3)
	c.WaitSynced(30 * time.Second)
	var d Device
	Eventually(t, 30*time.Second, "the devices API shows the collector current", func() (bool, string) {
		d = h.Device(c.ID)
		return d.ConfigCurrent, fmt.Sprintf("config_seq %d current %v", d.ConfigSeq, d.ConfigCurrent)
	})
	if d.ConfigSeq != enrolledSeq+2 || !slices.Contains(d.Notices, "privacy-it/3") {
		t.Errorf("device config_seq %d notices %v, want %d and privacy-it/3", d.ConfigSeq, d.Notices, enrolledSeq+2)
	}
	if got := behindMetric(t, h); got != "0" {
		t.Errorf("attesta_hub_devices_config_behind %q once the collector is current, want 0", got)
	}
	if out := Run(t, Binaries.Hub, "device", "list", "--data", h.Dir); !strings.Contains(out, fmt.Sprintf("%d (current)", d.ConfigSeq)) {
		t.Errorf("device list does not show the device current:\n%s", out)
	}
	if n := strings.Count(c.Log(), "config applied"); n != 1 {
		t.Errorf("the collector applied %d configs, want exactly 1 (the newest):\n%s", n, tail(c.Log(), 30))
	}
	if !strings.Contains(c.Log(), "privacy-it/3") || strings.Contains(c.Log(), "privacy-it/2,") {
		t.Errorf("collector log does not show privacy-it/3 applied:\n%s", tail(c.Log(), 30))
	}
	if _, err := c.CaptureJSON(captureCiting(3)); err != nil {
		t.Fatal(err)
	}
}

// Bad publishes are refused with the reason and nothing is published: the
// command line exits 2 naming the field, the API answers 400 naming it.
func TestBadPublishRefused(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.md")
	empty := filepath.Join(dir, "empty.md")
	os.WriteFile(good, []byte("# Informativa\n\nTesto.\n"), 0o600)
	os.WriteFile(empty, []byte("\n  \n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"notice", "publish", good, "--id", "privacy-it", "--version", "1", "--language", "it"}, "version: notice privacy-it version 1 is not newer than the last published version 1"},
		{[]string{"notice", "publish", empty, "--id", "privacy-it", "--version", "2", "--language", "it", "--title", "T"}, "text: notice privacy-it/2: text is empty"},
		{[]string{"notice", "publish", good, "--id", "privacy-it", "--version", "2", "--language", "en"}, `language: notice privacy-it is published in "it"`},
		{[]string{"notice", "publish", good, "--id", "privacy-de", "--version", "1", "--language", "zz"}, `language: notice privacy-de/1: language "zz" is not a two-letter ISO 639-1 code`},
		{[]string{"notice", "publish", good, "--id", "privacy-it", "--language", "it"}, "--version is required"},
		{[]string{"notice", "publish", filepath.Join(dir, "missing.md"), "--id", "privacy-it", "--version", "2", "--language", "it"}, "cannot read the notice text"},
		{[]string{"purpose", "add", "events", "--dpv", "dpv:DirectMarketing", "--retention-days", "5000", "--text", "it=Eventi"}, "retention_days: purpose \"events\": retention_days 5000 is out of range (1 to 3650)"},
		{[]string{"purpose", "add", "newsletter2", "--text", "it=News"}, "dpv: purpose \"newsletter2\": dpv term is missing"},
		{[]string{"touchpoint", "add", "kiosk-2", "--name", "K", "--kind", "xyz"}, `kind: touchpoint "kiosk-2": kind "xyz" is not ctp, etp or rtp`},
	} {
		_, stderr, err := RunErr(Binaries.Hub, append(tc.args, "--data", h.Dir)...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: %v, stderr %q; want exit code 2 and %q", tc.args[:2], err, stderr, tc.want)
		}
	}
	_, stderr, err := RunErr(Binaries.Hub, "purpose", "add", "newsletter", "--dpv", "d", "--text", "it=N", "--data", h.Dir)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(stderr, `purpose "newsletter" already exists`) {
		t.Errorf("purpose add newsletter: %v %q", err, stderr)
	}

	admin := h.adminToken(t)
	code, body := h.api(t, "POST", "/api/v1/notices", admin, `{"id":"privacy-it","version":2,"language":"it","title":"Informativa","text":""}`)
	if e, _ := body["error"].(map[string]any); code != 400 || e["field"] != "text" {
		t.Errorf("API empty text: %d %v", code, body)
	}
	code, body = h.api(t, "POST", "/api/v1/purposes", admin, `{"code":"events","dpv":"dpv:DirectMarketing","retention_days":0}`)
	if e, _ := body["error"].(map[string]any); code != 400 || e["field"] != "retention_days" {
		t.Errorf("API retention: %d %v", code, body)
	}
	code, body = h.api(t, "POST", "/api/v1/notices", h.Token(), `{"id":"privacy-it","version":2,"language":"it","title":"I","text":"x"}`)
	if code != http.StatusForbidden {
		t.Errorf("publish with a read token: %d %v", code, body)
	}
	code, cat := h.api(t, "GET", "/api/v1/config", h.Token(), "")
	if code != 200 || cat["seq"].(float64) != 1 {
		t.Errorf("refused publishes moved the config log: %d seq %v", code, cat["seq"])
	}
	if out := Run(t, Binaries.Hub, "notice", "list", "--data", h.Dir); strings.Count(out, "privacy-") != 2 {
		t.Errorf("notice list after refusals:\n%s", out)
	}
}

func behindMetric(t *testing.T, h *Hub) string {
	t.Helper()
	_, body, err := h.Metrics(true)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, "attesta_hub_devices_config_behind "); ok {
			return v
		}
	}
	return "(missing)"
}

// At the protocol level: a device on the newest config gets none at hello;
// each change published while it is connected (through the API, or by a
// command on the data folder) is pushed once and not again after its ack;
// a device behind at hello gets the newest right after the welcome.
func TestConfigPushedToLiveSession(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	d := EnrollFake(t, h.URL(), h.EnrollCode("Fake"))
	s := d.Session(h.URL())
	if s.Welcome.ConfigSeq != d.Catalog.Seq {
		t.Fatalf("welcome config_seq %d, enrolled with %d", s.Welcome.ConfigSeq, d.Catalog.Seq)
	}
	admin := h.adminToken(t)
	// next reads the next frame, which must be of type typ.
	next := func(typ string) *wire.Frame {
		t.Helper()
		f, err := s.Read()
		if err != nil || f.Type != typ {
			t.Fatalf("waiting for a %s frame: %v %+v", typ, err, f)
		}
		return f
	}
	ack := func(seq int64) { s.Send(&wire.Frame{Type: wire.TConfigAck, ConfigAck: &wire.ConfigAck{Seq: seq}}) }
	// pushAlone pushes a record: the next frame must be its ack, no config.
	var batch uint64
	pushAlone := func() {
		t.Helper()
		batch++
		s.Send(&wire.Frame{Type: wire.TPush, Push: &wire.Push{Batch: batch, Records: []record.Signed{d.Next()}}})
		if a := next(wire.TAck).Ack; a.Batch != batch || a.Accepted != 1 {
			t.Fatalf("ack %+v", a)
		}
	}
	publish := func(v int) {
		t.Helper()
		code, body := h.api(t, "POST", "/api/v1/notices", admin,
			fmt.Sprintf(`{"id":"privacy-en","version":%d,"language":"en","title":"Privacy","text":"v%d"}`, v, v))
		if code != http.StatusCreated {
			t.Fatalf("publish v%d: %d %v", v, code, body)
		}
	}

	pushAlone() // nothing was sent at hello: the device is current
	publish(2)
	c := next(wire.TConfig).Config.Catalog
	if !c.IsActive("privacy-en", 2) || c.Seq != d.Catalog.Seq+1 {
		t.Fatalf("pushed config seq %d, active %v", c.Seq, c.Active())
	}
	ack(c.Seq)
	publishNoticeCLI(t, h, 2, "# Informativa\n\nv2\n") // another process: found by the poll
	c = next(wire.TConfig).Config.Catalog
	if !c.IsActive("privacy-it", 2) || c.Seq != d.Catalog.Seq+2 {
		t.Fatalf("pushed config seq %d, active %v", c.Seq, c.Active())
	}
	ack(c.Seq)
	Eventually(t, 10*time.Second, "the device current", func() (bool, string) {
		dev := h.Device(d.ID)
		return dev.ConfigCurrent && dev.ConfigSeq == c.Seq, fmt.Sprint(dev.ConfigSeq)
	})
	pushAlone()

	// Behind at hello: the newest comes right after the welcome.
	s.Conn.Close()
	// Wait for the hub to end that session, so publishing cannot reach it.
	Eventually(t, 10*time.Second, "the first session ended", func() (bool, string) {
		return strings.Contains(h.Log(), `msg="sync session ended"`), ""
	})
	publish(3)
	s = d.Session(h.URL()) // hello says d.Catalog.Seq, three behind
	batch = 0
	c = next(wire.TConfig).Config.Catalog
	if c.Seq != d.Catalog.Seq+3 || !c.IsActive("privacy-en", 3) {
		t.Fatalf("config after hello: seq %d", c.Seq)
	}
	ack(c.Seq)
	Eventually(t, 10*time.Second, "the device current again", func() (bool, string) {
		dev := h.Device(d.ID)
		return dev.ConfigCurrent && dev.ConfigSeq == c.Seq, fmt.Sprint(dev.ConfigSeq)
	})
	pushAlone()
	// Three snapshots, each sent once: none twice within a session, even
	// though the hub polled the log all along.
	if n := strings.Count(h.Log(), `msg="config sent"`); n != 3 {
		t.Errorf("the hub sent %d config frames, want 3:\n%s", n, tail(h.Log(), 20))
	}
}
