package proof_test

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/proof"
	"github.com/attesta/attesta/shared/record"
)

const noticeText = "Informativa privacy — Fiera Milano.\nIl titolare è Esempio S.p.A.; i dati servono alle finalità scelte.\n"

// fixture is a device stream as a kiosk makes it (notice view, consent,
// two later records), a withdrawal the hub made, and the bundle of the consent.
type fixture struct {
	hubPriv ed25519.PrivateKey
	hubPub  ed25519.PublicKey
	devID   string
	devPriv ed25519.PrivateKey
	consent string // its id
	view    string
	withdr  string
	bundle  *proof.Bundle
	zip     []byte
	payload record.Payload
}

func signaturePNG(tb testing.TB) []byte {
	img := image.NewGray(image.Rect(0, 0, 40, 20))
	for x := 4; x < 36; x++ {
		img.Set(x, 10, color.White)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// The fixture is made from a fixed seed, so every process (fuzz workers
// included) makes the same bundle, byte for byte.
type seeded struct{ r io.Reader }

func newSeeded() *seeded {
	return &seeded{mrand.NewChaCha8([32]byte{'a', 't', 't', 'e', 's', 't', 'a'})}
}

func (s *seeded) id(tb testing.TB) string {
	id, err := uuid.NewRandomFromReader(s.r)
	if err != nil {
		tb.Fatal(err)
	}
	return id.String()
}

func (s *seeded) key() (ed25519.PublicKey, ed25519.PrivateKey) {
	seed := make([]byte, ed25519.SeedSize)
	io.ReadFull(s.r, seed)
	priv := ed25519.NewKeyFromSeed(seed)
	return priv.Public().(ed25519.PublicKey), priv
}

func newFixture(tb testing.TB, mutate ...func(*record.Payload)) *fixture {
	tb.Helper()
	rnd := newSeeded()
	newID := rnd.id
	f := &fixture{devID: newID(tb)}
	f.hubPub, f.hubPriv = rnd.key()
	devPub, devPriv := rnd.key()
	f.devPriv = devPriv
	f.payload = record.Payload{
		Subject:   record.Subject{GivenName: "Ada", FamilyName: "Lovelace", Email: "ada@example.com", Phone: "+39 02 1234567"},
		Signature: &record.Handwriting{PNG: signaturePNG(tb), Points: [][]record.Point{{{X: 4, Y: 10, T: 0, P: 0.5}, {X: 20.25, Y: 12, T: 16}, {X: 36, Y: 10, T: 40}}, {{X: 30, Y: 4, T: 300}}}},
		Receipt:   "tok", Salt: []byte("0123456789abcdef"),
	}
	for _, m := range mutate {
		m(&f.payload)
	}
	payload, _ := json.Marshal(f.payload)
	notice := record.NoticeRef{ID: "privacy-it", Version: 1, SHA256: record.SHA256Hex([]byte(noticeText)), ViewedAt: "2026-11-22T10:00:00.5+01:00"}
	base := record.Envelope{Schema: record.Schema, Collector: f.devID, Epoch: "ep1", Controller: record.Controller{Name: "Esempio S.p.A.", Contact: "privacy@example.com"},
		Jurisdiction: "IT", Language: "it", Touchpoint: "fair-milano-b12", Operator: "staff-7", AppVersion: "0.1.0", Notice: notice}
	hubTime := func(i int) string {
		return time.Date(2026, 11, 22, 9, 5, i, 0, time.UTC).Format("2006-01-02T15:04:05.000000000Z07:00")
	}
	countersigned := func(s record.Signed, i int) proof.Record {
		at := hubTime(i)
		return proof.Record{Signed: s, ReceivedAt: at, Countersig: record.Countersign(f.hubPriv, s.HashHex(), at),
			CorrectedAt: "2026-11-22T09:00:00.500000000Z", ClockOffsetMS: 12}
	}
	f.consent, f.view = newID(tb), newID(tb)
	var stream []record.Signed
	prev := ""
	for seq := uint64(1); seq <= 4; seq++ {
		e := base
		e.Seq, e.Prev, e.HLC = seq, prev, hlc.New(1763802000000+int64(seq), 0)
		e.CapturedAt = fmt.Sprintf("2026-11-22T10:00:0%d.5+01:00", seq)
		switch seq {
		case 1:
			e.ID, e.Kind, e.Ref = f.view, record.NoticeViewed, f.consent
		case 2:
			e.ID, e.Kind, e.Withdraw = f.consent, record.Given, "https://privacy.example.com/r/"
			e.Purposes = []record.Choice{{Purpose: "newsletter", DPV: "dpv:DirectMarketing", Granted: true, LegalBasis: "consent", RetentionDays: 730},
				{Purpose: "profiling", DPV: "dpv:CreatePersonalisedRecommendations", Granted: false, LegalBasis: "consent", RetentionDays: 365}}
			e.PayloadSHA256, e.SignatureSHA256, e.Sealed = record.PayloadHash(payload), record.SHA256Hex(f.payload.Signature.PNG), []byte("sealed-box-bytes")
		default:
			e.ID, e.Kind = newID(tb), record.Given
			e.Purposes = []record.Choice{{Purpose: "newsletter", Granted: true}}
			e.PayloadSHA256, e.Sealed = strings.Repeat("c", 64), []byte("someone else's sealed payload")
		}
		s, err := record.Sign(&e, devPriv)
		if err != nil {
			tb.Fatal(err)
		}
		stream = append(stream, s)
		prev = s.HashHex()
	}
	// A withdrawal made at head office: signed by the hub, in the hub's chain.
	f.withdr = newID(tb)
	w := base
	w.ID, w.Kind, w.Collector, w.Epoch, w.Seq, w.Ref, w.Touchpoint, w.Operator = f.withdr, record.Withdrawn, "hub", "hub", 1, f.consent, "receipt-page", ""
	w.CapturedAt, w.HLC, w.AppVersion = "2026-12-01T08:00:00Z", hlc.New(1764576000000, 0), "hub/0.1.0"
	w.Purposes = []record.Choice{{Purpose: "newsletter", DPV: "dpv:DirectMarketing", LegalBasis: "consent", RetentionDays: 730}}
	ws, err := record.Sign(&w, f.hubPriv)
	if err != nil {
		tb.Fatal(err)
	}
	enrollment, _ := json.Marshal(map[string]any{"device_id": f.devID, "name": "Booth B12", "touchpoint": "fair-milano-b12",
		"sign_key": record.PublicKeyString(devPub), "enrolled_at": "2026-11-01T08:00:00.000000000Z", "app_version": "0.1.0", "host": "kiosk-1", "code_sha256": strings.Repeat("d", 64)})
	rec := countersigned(stream[1], 2)
	rec.Payload = payload
	withdrawal := countersigned(ws, 9)
	withdrawal.ClockOffsetMS, withdrawal.CorrectedAt = 0, withdrawal.ReceivedAt
	f.bundle = &proof.Bundle{
		GeneratedAt: "2026-12-02T10:00:00.000000000Z", Generator: "attesta-hub test",
		Record:  rec,
		Related: []proof.Record{countersigned(stream[0], 1), withdrawal},
		Chain: proof.Chain{Records: []proof.Record{countersigned(stream[2], 3), countersigned(stream[3], 4)},
			HeadSeq: 4, HeadSHA256: stream[3].HashHex()},
		Devices:     []proof.Device{{ID: f.devID, SignKey: devPub, Enrollment: enrollment}},
		Notices:     []proof.Notice{{ID: "privacy-it", Version: 1, Language: "it", Title: "Informativa", Summary: "In breve: newsletter e profilazione.", Text: []byte(noticeText)}},
		Touchpoints: []proof.Touchpoint{{ID: "fair-milano-b12", Name: "Fiera Milano, booth B12", Location: "Rho"}},
		HubKey:      f.hubPub,
	}
	f.zip = mustBuild(tb, f.bundle, f.hubPriv)
	return f
}

func mustBuild(tb testing.TB, b *proof.Bundle, key ed25519.PrivateKey) []byte {
	tb.Helper()
	z, err := proof.Build(b, key)
	if err != nil {
		tb.Fatal(err)
	}
	return z
}

func mustValid(t *testing.T, z []byte) *proof.Report {
	t.Helper()
	rep := proof.Verify(z)
	if !rep.Valid {
		var b strings.Builder
		rep.WriteText(&b)
		t.Fatalf("bundle does not verify:\n%s", b.String())
	}
	return rep
}

func TestBuildVerify(t *testing.T) {
	f := newFixture(t)
	rep := mustValid(t, f.zip)
	if rep.EventID != f.consent || rep.Fingerprint != proof.Fingerprint(f.hubPub) {
		t.Fatalf("report names %s with key %s", rep.EventID, rep.Fingerprint)
	}
	// Every kind of evidence was looked at, not just passed over.
	for _, name := range []string{proof.CheckZip, proof.CheckManifest, proof.CheckManifestSig, proof.CheckHubKey, proof.CheckDeviceKey,
		proof.CheckEnvelope, proof.CheckPayload, proof.CheckNotice, proof.CheckImage, proof.CheckSVG, proof.CheckCountersig,
		proof.CheckRelated, proof.CheckChain, proof.CheckSummary} {
		found := false
		for _, c := range rep.Checks {
			found = found || (c.Name == name && c.OK())
		}
		if !found {
			t.Errorf("no passing %q check", name)
		}
	}
	var text strings.Builder
	rep.WriteText(&text)
	for _, want := range []string{"VALID", "reaches the hub's acknowledged head", proof.Fingerprint(f.hubPub), "notice_viewed record " + f.view, "withdrawn record " + f.withdr} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
	// Deterministic: the same bundle makes the same bytes.
	if again := mustBuild(t, f.bundle, f.hubPriv); !bytes.Equal(again, f.zip) {
		t.Fatal("building twice gave different bytes")
	}
	// Any zip tool reads it.
	zr, err := zip.NewReader(bytes.NewReader(f.zip), int64(len(f.zip)))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"manifest.json", "manifest.sig", "summary.html", "hub/public-key.txt", "record/envelope.json", "record/envelope.sig",
		"record/countersignature.json", "record/payload.json", "record/signature.png", "record/signature.svg",
		"related/" + f.view + "/envelope.json", "related/" + f.withdr + "/envelope.json", "devices/" + f.devID + "/enrollment.json",
		"devices/" + f.devID + "/public-key.txt", "notices/privacy-it/v1.txt", "chain/0000000003/envelope.json", "chain/0000000004/countersignature.json"}
	have := map[string][]byte{}
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		have[zf.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	for _, name := range want {
		if _, ok := have[name]; !ok {
			t.Errorf("bundle lacks %s", name)
		}
	}
	if !bytes.Equal(have["record/payload.json"], f.bundle.Record.Payload) || string(have["notices/privacy-it/v1.txt"]) != noticeText ||
		!bytes.Equal(have["record/signature.png"], f.payload.Signature.PNG) || !bytes.Equal(have["record/envelope.json"], f.bundle.Record.Signed.Envelope) {
		t.Fatal("files are not the exact bytes given")
	}
}

// flip changes one byte of data at i (a negative i counts from the end).
func flip(i int) func([]byte) []byte {
	return func(b []byte) []byte {
		if i < 0 {
			i += len(b)
		}
		b = append([]byte(nil), b...)
		b[i] ^= 0x01
		return b
	}
}

func middle(b []byte) []byte { return flip(len(b) / 2)(b) }

// flipIn changes one byte inside the first occurrence of s.
func flipIn(s string) func([]byte) []byte {
	return func(b []byte) []byte {
		i := bytes.Index(b, []byte(s))
		if i < 0 {
			panic(fmt.Sprintf("%q not in %q", s, b))
		}
		b = append([]byte(nil), b...)
		b[i+len(s)/2] ^= 0x01
		return b
	}
}

// flipAfter changes the byte right after the first occurrence of s.
func flipAfter(s string) func([]byte) []byte {
	return func(b []byte) []byte {
		i := bytes.Index(b, []byte(s))
		if i < 0 {
			panic(fmt.Sprintf("%q not in %q", s, b))
		}
		return flip(i + len(s))(b)
	}
}

// Each single-byte change of one file, with the container rewritten so
// that only the content checks can notice, fails the check that names it.
func TestTamperedFileIsNamed(t *testing.T) {
	f := newFixture(t)
	dev := "devices/" + f.devID + "/"
	devKey := record.PublicKeyString(f.bundle.Devices[0].SignKey)
	cases := []struct {
		name, file string
		change     func([]byte) []byte
		check      string
		detail     string
	}{
		{"payload", "record/payload.json", middle, proof.CheckPayload, "does not match envelope payload_sha256"},
		{"notice text", "notices/privacy-it/v1.txt", flipIn("titolare"), proof.CheckNotice, "does not match envelope notice.sha256"},
		{"signature png", "record/signature.png", middle, proof.CheckImage, "does not match envelope signature_sha256"},
		{"signature svg", "record/signature.svg", flipIn("20.25"), proof.CheckSVG, "is not the drawing of the payload's 2 stroke(s)"},
		{"envelope", "record/envelope.json", flipIn("staff-7"), proof.CheckEnvelope, "device signature does not verify"},
		{"device signature", "record/envelope.sig", flip(0), proof.CheckEnvelope, "device signature does not verify"},
		{"countersignature time", "record/countersignature.json", flipIn("09:05:02"), proof.CheckCountersig, "countersignature over (envelope sha256, received_at) does not verify"},
		{"countersignature bytes", "record/countersignature.json", flipIn(`"signature": "`), proof.CheckCountersig, ""},
		{"chain record", "chain/0000000003/envelope.json", flipIn("staff-7"), proof.CheckChain, "device signature does not verify"},
		{"chain countersignature", "chain/0000000004/countersignature.json", flipIn("09:05:04"), proof.CheckChain, "countersignature"},
		{"related notice view", "related/" + f.view + "/envelope.json", flipIn("staff-7"), proof.CheckRelated, "device signature does not verify"},
		{"hub withdrawal", "related/" + f.withdr + "/envelope.json", flipIn("receipt-page"), proof.CheckRelated, "hub signature does not verify"},
		{"enrollment key", dev + "enrollment.json", flipIn(devKey[10:20]), proof.CheckDeviceKey, "is not the sign_key of the device's enrollment record"},
		{"enrollment device", dev + "enrollment.json", flipIn(f.devID[30:]), proof.CheckDeviceKey, "the enrollment record is for device"},
		{"device key", dev + "public-key.txt", flip(3), proof.CheckDeviceKey, "is not the sign_key"},
		{"manifest", "manifest.json", flipIn("attesta-hub test"), proof.CheckManifestSig, "does not verify"},
		{"manifest signature", "manifest.sig", flip(10), proof.CheckManifestSig, "does not verify"},
		{"manifest file hash", "manifest.json", flipIn(record.SHA256Hex(f.bundle.Record.Payload)), proof.CheckManifest, "file record/payload.json altered"},
		{"manifest notice hash", "manifest.json", flipAfter(`"sha256": "`), proof.CheckManifest, "notice privacy-it version 1: the manifest gives sha256"},
		{"summary", "summary.html", flipIn("Consent given"), proof.CheckSummary, "is not what the bundle's files say"},
		{"hub key", "hub/public-key.txt", flip(5), proof.CheckManifestSig, "does not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			z, err := proof.Rewrite(f.zip, func(names []string, files map[string][]byte) []string {
				if _, ok := files[tc.file]; !ok {
					t.Fatalf("no %s in %v", tc.file, names)
				}
				files[tc.file] = tc.change(files[tc.file])
				return names
			})
			if err != nil {
				t.Fatal(err)
			}
			rep := proof.Verify(z)
			var text strings.Builder
			rep.WriteText(&text)
			if rep.Valid || !strings.HasSuffix(text.String(), "\n") || !strings.Contains(text.String(), "INVALID") {
				t.Fatalf("tampered bundle verified:\n%s", text.String())
			}
			failed := rep.Failed(tc.check)
			if len(failed) == 0 {
				t.Fatalf("no failed %q check:\n%s", tc.check, text.String())
			}
			if tc.detail != "" && !strings.Contains(fmt.Sprint(failed), tc.detail) {
				t.Fatalf("%q failures %v do not say %q", tc.check, failed, tc.detail)
			}
			// The manifest names the altered file too (its hash is signed),
			// unless the manifest itself is what changed.
			if tc.file != "manifest.json" && tc.file != "manifest.sig" &&
				!strings.Contains(fmt.Sprint(rep.Failed(proof.CheckManifest)), "file "+tc.file+" altered") {
				t.Fatalf("manifest check does not name %s:\n%s", tc.file, text.String())
			}
		})
	}
}

// Missing, added, reordered and misplaced files are named.
func TestMissingAndAddedFiles(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name   string
		edit   func(names []string, files map[string][]byte) []string
		check  string
		detail string
	}{
		{"payload missing", func(n []string, fs map[string][]byte) []string { delete(fs, "record/payload.json"); return n },
			proof.CheckPayload, "missing"},
		{"notice missing", func(n []string, fs map[string][]byte) []string { delete(fs, "notices/privacy-it/v1.txt"); return n },
			proof.CheckNotice, "is not in the bundle"},
		{"png missing", func(n []string, fs map[string][]byte) []string { delete(fs, "record/signature.png"); return n },
			proof.CheckImage, "missing"},
		{"chain record missing", func(n []string, fs map[string][]byte) []string {
			for _, name := range n {
				if strings.HasPrefix(name, "chain/0000000003/") {
					delete(fs, name)
				}
			}
			return n
		}, proof.CheckChain, "seq 4 does not follow seq 2"},
		{"enrollment missing", func(n []string, fs map[string][]byte) []string {
			delete(fs, "devices/"+f.devID+"/enrollment.json")
			return n
		},
			proof.CheckDeviceKey, "enrollment.json is missing"},
		{"file added", func(n []string, fs map[string][]byte) []string {
			fs["record/note.txt"] = []byte("hi")
			return append(n, "record/note.txt")
		},
			proof.CheckZip, "not part of the bundle format"},
		{"reordered", func(n []string, fs map[string][]byte) []string {
			n = append([]string(nil), n...)
			n[3], n[4] = n[4], n[3]
			return n
		}, proof.CheckManifest, "not in the manifest's order"},
		{"related record swapped for an unrelated one", func(n []string, fs map[string][]byte) []string {
			for _, suffix := range []string{"envelope.json", "envelope.sig", "countersignature.json"} {
				fs["related/"+f.view+"/"+suffix] = fs["chain/0000000003/"+suffix]
			}
			return n
		}, proof.CheckRelated, "holds record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			z, err := proof.Rewrite(f.zip, tc.edit)
			if err != nil {
				t.Fatal(err)
			}
			rep := proof.Verify(z)
			failed := rep.Failed(tc.check)
			if rep.Valid || len(failed) == 0 || !strings.Contains(fmt.Sprint(failed), tc.detail) {
				var text strings.Builder
				rep.WriteText(&text)
				t.Fatalf("want a failed %q check saying %q:\n%s", tc.check, tc.detail, text.String())
			}
		})
	}
}

// Changing any byte of the zip file itself (headers included) fails, and
// a change inside a file's data names that file.
func TestAnyByteOfTheZip(t *testing.T) {
	f := newFixture(t)
	// Every byte of the first local header, the first central directory
	// entry and the end record (each field of the container), and a stride
	// over the whole file.
	var at []int
	cd := bytes.Index(f.zip, []byte("PK\x01\x02"))
	for i := range 30 + len("manifest.json") {
		at = append(at, i, cd+i+16)
	}
	for i := len(f.zip) - 22; i < len(f.zip); i++ {
		at = append(at, i)
	}
	for i := 0; i < len(f.zip); i += len(f.zip)/400 + 1 {
		at = append(at, i)
	}
	for _, i := range at {
		z := flip(i)(f.zip)
		rep := proof.Verify(z)
		if rep.Valid {
			t.Fatalf("flipping byte %d of %d verified", i, len(f.zip))
		}
		named := false
		for _, c := range rep.Checks {
			named = named || (c.Status == "FAIL" && c.Detail != "")
		}
		if !named {
			t.Fatalf("flipping byte %d: no failed check says what:\n%v", i, rep.Checks)
		}
	}
	// A flip inside the payload's bytes, the zip left as it is.
	names := proof.Files(f.zip)
	i := bytes.Index(f.zip, f.bundle.Record.Payload)
	if i < 0 || names == nil {
		t.Fatal("payload not stored verbatim")
	}
	rep := proof.Verify(flip(i + 40)(f.zip))
	if len(rep.Failed(proof.CheckPayload)) == 0 || !strings.Contains(fmt.Sprint(rep.Failed(proof.CheckZip)), "record/payload.json fails its CRC-32 check") {
		t.Fatalf("payload flip not named: %v", rep.Checks)
	}
}

// The container is read defensively: whatever is wrong with it is said.
func TestZipContainer(t *testing.T) {
	f := newFixture(t)
	rewrite := func(write func(w *zip.Writer)) []byte {
		var b bytes.Buffer
		w := zip.NewWriter(&b)
		write(w)
		w.Close()
		return b.Bytes()
	}
	copyAll := func(w *zip.Writer, method uint16, extra func(name string) bool) {
		zr, _ := zip.NewReader(bytes.NewReader(f.zip), int64(len(f.zip)))
		for _, zf := range zr.File {
			rc, _ := zf.Open()
			data, _ := io.ReadAll(rc)
			rc.Close()
			n := 1
			if extra != nil && extra(zf.Name) {
				n = 2
			}
			for range n {
				fw, _ := w.CreateHeader(&zip.FileHeader{Name: zf.Name, Method: method})
				fw.Write(data)
			}
		}
	}
	// n tiny central directory entries and an end record declaring
	// declared of them (after a zip64 locator if zip64): how a zip aimed at
	// the reader's memory looks. Refused before archive/zip reads them.
	directory := func(n int, declared uint16, zip64 bool) []byte {
		var b bytes.Buffer
		le := binary.LittleEndian
		for range n {
			var c [46]byte
			le.PutUint32(c[0:], 0x02014b50)
			le.PutUint16(c[28:], 1)
			b.Write(c[:])
			b.WriteByte('a')
		}
		size := b.Len()
		if zip64 {
			var l [20]byte
			le.PutUint32(l[0:], 0x07064b50)
			le.PutUint32(l[16:], 1)
			b.Write(l[:])
		}
		var e [22]byte
		le.PutUint32(e[0:], 0x06054b50)
		le.PutUint16(e[8:], declared)
		le.PutUint16(e[10:], declared)
		le.PutUint32(e[12:], uint32(size))
		return append(b.Bytes(), e[:]...)
	}
	huge := append([]byte(nil), f.zip...)
	// Declare 100 MiB for the first entry in the central directory.
	cd := bytes.Index(huge, []byte{0x50, 0x4b, 0x01, 0x02})
	huge[cd+24], huge[cd+25], huge[cd+26], huge[cd+27] = 0, 0, 0x40, 0x06
	cases := []struct {
		name string
		zip  []byte
		want string
	}{
		{"empty", nil, "not a readable zip file"},
		{"not a zip", []byte("%PDF-1.7 not a zip"), "not a readable zip file"},
		{"truncated", f.zip[:len(f.zip)-30], "not a readable zip file"},
		{"duplicate", rewrite(func(w *zip.Writer) { copyAll(w, zip.Store, func(n string) bool { return n == "record/payload.json" }) }), "record/payload.json appears more than once"},
		{"compressed", rewrite(func(w *zip.Writer) { copyAll(w, zip.Deflate, nil) }), "is compressed (method 8)"},
		{"rewritten by another zip tool", rewrite(func(w *zip.Writer) { copyAll(w, zip.Store, nil) }), "differs from the canonical layout"},
		{"oversized entry", huge, "over the limit"},
		{"odd name", rewrite(func(w *zip.Writer) {
			copyAll(w, zip.Store, nil)
			fw, _ := w.CreateHeader(&zip.FileHeader{Name: "../evil", Method: zip.Store})
			fw.Write([]byte("x"))
		}), "is not a plain relative path"},
		{"appended data", append(append([]byte(nil), f.zip...), "trailer"...), ""},
		{"too many entries declared", directory(10, 0xffff, false), "end record declares 65535 entries, over the limit of 20000"},
		{"more entries than declared", directory(1<<16+3, 3, false), "central directory holds more than the limit of 20000 entries"},
		{"zip64", directory(3, 0xffff, true), "zip64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := proof.Verify(tc.zip)
			zipFails := rep.Failed(proof.CheckZip)
			if rep.Valid || len(zipFails) == 0 || !strings.Contains(fmt.Sprint(zipFails), tc.want) {
				t.Fatalf("want a failed zip check saying %q, got %v", tc.want, rep.Checks)
			}
		})
	}
}

// A withdrawal made at head office: the hub is the signing device, and the
// consent it withdraws comes along with its payload and signature.
func TestHubWithdrawalBundle(t *testing.T) {
	f := newFixture(t)
	b := *f.bundle
	consent := b.Record
	b.Record = b.Related[1]
	b.Related = []proof.Record{consent, f.bundle.Related[0]}
	b.Chain = proof.Chain{HeadSeq: 1, HeadSHA256: b.Record.Signed.HashHex()}
	z := mustBuild(t, &b, f.hubPriv)
	rep := mustValid(t, z)
	var text strings.Builder
	rep.WriteText(&text)
	for _, want := range []string{"withdrawn record " + f.withdr + " of hub, seq 1; hub signature verifies", "the record this one refers to",
		"related/" + f.consent + "/payload.json): sha256 matches", "related/" + f.consent + "/signature.svg"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
	html := fileOf(t, z, "summary.html")
	for _, want := range []string{"Consent withdrawn", "the hub itself", "Ada Lovelace", "<svg", "related/" + f.consent + "/payload.json"} {
		if !strings.Contains(html, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}

func fileOf(t *testing.T, z []byte, name string) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	for _, zf := range zr.File {
		if zf.Name == name {
			rc, _ := zf.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			return string(b)
		}
	}
	t.Fatalf("no %s in the bundle", name)
	return ""
}

// The summary escapes what the visitor typed and loads nothing from outside.
func TestSummaryEscapesAndIsSelfContained(t *testing.T) {
	f := newFixture(t, func(p *record.Payload) {
		p.Subject.GivenName = `<script>alert("x")</script>`
		p.Subject.FamilyName = `"><img src=https://evil.example/x>`
	})
	mustValid(t, f.zip)
	html := fileOf(t, f.zip, "summary.html")
	for _, bad := range []string{"<script", "<img src=https", "<link", "@import", "url(", "href="} {
		if strings.Contains(html, bad) {
			t.Errorf("summary contains %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;", "Fiera Milano, booth B12", "privacy-it version 1", "Booth B12", proof.Fingerprint(f.hubPub),
		"newsletter", "granted", "refused", "staff-7", "<svg", `src="data:image/png;base64,`, "Il titolare è Esempio", "notice was shown for this record"} {
		if !strings.Contains(html, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if !strings.Contains(html, "Content-Security-Policy") {
		t.Error("summary has no content security policy")
	}
}

// The chain may stop short of the head only when the manifest says why.
func TestChainShortOfHead(t *testing.T) {
	f := newFixture(t)
	b := *f.bundle
	b.Chain.Records = b.Chain.Records[:1]
	if rep := proof.Verify(mustBuild(t, &b, f.hubPriv)); rep.Valid || len(rep.Failed(proof.CheckChain)) == 0 {
		t.Fatalf("a chain stopping short without a reason verified: %v", rep.Checks)
	}
	b.Chain.Note = "the bundle holds at most 1 later record"
	rep := mustValid(t, mustBuild(t, &b, f.hubPriv))
	var text strings.Builder
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "the hub's acknowledged head is seq 4: the bundle holds at most 1") {
		t.Fatalf("report does not say where the chain stops:\n%s", text.String())
	}
}

// A summary laid out by another version of the hub passes when it is the
// page the hub signed, so old bundles stay valid when the verifier is
// upgraded; changed after signing, it fails.
func TestSummaryFromAnotherLayout(t *testing.T) {
	f := newFixture(t)
	older := func(names []string, files map[string][]byte) []string {
		files["summary.html"] = bytes.Replace(files["summary.html"], []byte("What was chosen"), []byte("Choices"), 1)
		return names
	}
	z, err := proof.Resign(f.zip, f.hubPriv, older)
	if err != nil {
		t.Fatal(err)
	}
	rep := mustValid(t, z)
	if !strings.Contains(fmt.Sprint(rep.Checks), "is the page the hub signed (attesta-hub test)") {
		t.Fatalf("summary check: %v", rep.Checks)
	}
	z, _ = proof.Rewrite(z, func(names []string, files map[string][]byte) []string {
		files["summary.html"] = bytes.Replace(files["summary.html"], []byte("granted"), []byte("refused"), 1)
		return names
	})
	if rep := proof.Verify(z); rep.Valid || !strings.Contains(fmt.Sprint(rep.Failed(proof.CheckSummary)), "nor the page the hub signed") {
		t.Fatalf("a summary changed after signing: %v", rep.Checks)
	}
}

// Conflicting copies at the hub and the hub's findings are reported.
func TestConflictNoted(t *testing.T) {
	f := newFixture(t)
	b := *f.bundle
	b.Conflicts = []proof.Conflict{{SHA256: strings.Repeat("e", 64), ReceivedAt: "2026-11-23T00:00:00.000000000Z"}}
	b.Record.Flags = []string{"clock_suspect"}
	z := mustBuild(t, &b, f.hubPriv)
	rep := mustValid(t, z)
	if html := fileOf(t, z, "summary.html"); !strings.Contains(html, "Conflicting copies") || !strings.Contains(html, strings.Repeat("e", 64)) ||
		!strings.Contains(html, "clock_suspect") {
		t.Fatal("summary does not mention the conflict and the hub's finding")
	}
	if !strings.Contains(fmt.Sprint(rep.Checks), "(hub findings: clock_suspect)") {
		t.Fatalf("report does not show the hub's finding: %v", rep.Checks)
	}
}

// What the trust model rests on: a bundle forged end to end with another
// hub key is internally consistent, and only the fingerprint tells.
func TestForgedHubKeyShowsInFingerprint(t *testing.T) {
	f := newFixture(t)
	forgerPub, forgerPriv, _ := ed25519.GenerateKey(rand.Reader)
	b := *f.bundle
	b.HubKey = forgerPub
	resign := func(r proof.Record) proof.Record {
		r.Countersig = record.Countersign(forgerPriv, r.Signed.HashHex(), r.ReceivedAt)
		return r
	}
	b.Record = resign(b.Record)
	b.Related = []proof.Record{resign(b.Related[0])} // the hub-signed withdrawal cannot be re-made without the hub key
	b.Chain.Records = []proof.Record{resign(b.Chain.Records[0]), resign(b.Chain.Records[1])}
	rep := mustValid(t, mustBuild(t, &b, forgerPriv))
	if rep.Fingerprint == proof.Fingerprint(f.hubPub) || rep.Fingerprint != proof.Fingerprint(forgerPub) {
		t.Fatal("the report does not show the key that signed the bundle")
	}
	if _, err := proof.Build(f.bundle, forgerPriv); err == nil {
		t.Fatal("Build signed with a key that is not the bundle's hub key")
	}
}

func TestSVG(t *testing.T) {
	if proof.SVG(nil) != nil || proof.SVG([][]record.Point{{}}) != nil {
		t.Fatal("a drawing without points")
	}
	got := string(proof.SVG([][]record.Point{{{X: 1, Y: 2}, {X: 3.005, Y: -0.001}}, {{X: 10, Y: 10}}}))
	for _, want := range []string{`viewBox="-3 -4 17 18"`, `<path d="M1 2 L3 0"/>`, `<circle cx="10" cy="10"`} {
		if !strings.Contains(got, want) {
			t.Errorf("svg lacks %s: %s", want, got)
		}
	}
}

// A revoked device's records received before its revocation still prove
// what they prove; one the hub says it received at or after the revocation
// does not verify, whatever the hub signed.
func TestRecordReceivedAfterRevocation(t *testing.T) {
	f := newFixture(t)
	b := *f.bundle
	b.Devices = []proof.Device{b.Devices[0]}
	b.Devices[0].RevokedAt = "2026-11-22T09:05:10.000000000Z" // after every record of the device
	mustValid(t, mustBuild(t, &b, f.hubPriv))

	b.Devices[0].RevokedAt = "2026-11-22T09:05:02.000000000Z" // the main record was received at :02
	rep := proof.Verify(mustBuild(t, &b, f.hubPriv))
	if rep.Valid || !strings.Contains(fmt.Sprint(rep.Checks), "not before its device was revoked at 2026-11-22T09:05:02") {
		t.Fatalf("a record received when its device was revoked verified: %v", rep.Checks)
	}
}
