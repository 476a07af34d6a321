package proof

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"sort"
	"strings"
	"time"

	"github.com/attesta/attesta/shared/record"
)

type verifier struct {
	rep      *Report
	raw      []byte
	files    map[string][]byte
	order    []string
	used     map[string]bool
	hubKey   ed25519.PublicKey
	devKeys  map[string]ed25519.PublicKey
	m        *Manifest
	signed   bool // manifest.sig verifies with the hub key
	mainEnv  *record.Envelope
	mainHash string
}

func (v *verifier) add(name, file, status, format string, args ...any) {
	v.rep.Checks = append(v.rep.Checks, Check{Name: name, File: file, Status: status, Detail: fmt.Sprintf(format, args...)})
}
func (v *verifier) ok(name, file, format string, args ...any) {
	v.add(name, file, statusOK, format, args...)
}
func (v *verifier) fail(name, file, format string, args ...any) {
	v.add(name, file, statusFail, format, args...)
}
func (v *verifier) skip(name, file, format string, args ...any) {
	v.add(name, file, statusSkip, format, args...)
}

// get returns a file and marks it as part of the format.
func (v *verifier) get(name string) ([]byte, bool) {
	b, ok := v.files[name]
	if ok {
		v.used[name] = true
	}
	return b, ok
}

// Verify checks a bundle offline. It never fails outright: whatever it
// cannot read or check becomes a failed check that names the file and what
// is wrong, and the report is Valid only when every check passed.
func Verify(b []byte) *Report {
	v := &verifier{rep: &Report{Checks: []Check{}}, raw: b, files: map[string][]byte{}, used: map[string]bool{},
		devKeys: map[string]ed25519.PublicKey{}}
	v.run()
	v.rep.Valid = len(v.rep.Checks) > 0
	for _, c := range v.rep.Checks {
		if !c.OK() {
			v.rep.Valid = false
		}
	}
	return v.rep
}

func (v *verifier) run() {
	files, issues, err := readZip(v.raw)
	if err != nil {
		v.fail(CheckZip, "", "%v", err)
		return
	}
	for _, f := range files {
		v.files[f.Name] = f.Data
		v.order = append(v.order, f.Name)
	}
	for _, is := range issues {
		v.fail(CheckZip, "", "%s", is)
	}
	if len(issues) == 0 {
		if diff := layoutDiff(v.raw, files); diff != "" {
			v.fail(CheckZip, "", "%s", diff)
		} else {
			v.ok(CheckZip, "", "%d files in the canonical layout", len(files))
		}
	}
	v.checkHubKey()
	v.checkManifest()
	v.checkDevices()
	v.checkRecords()
	v.checkSummary()
	v.checkUnexpected()
}

func (v *verifier) checkHubKey() {
	b, ok := v.get(fileHubKey)
	if !ok {
		v.fail(CheckHubKey, fileHubKey, "missing from the bundle")
		return
	}
	key, err := parseKeyText(b)
	if err != nil {
		v.fail(CheckHubKey, fileHubKey, "%v", err)
		return
	}
	v.hubKey = key
	v.rep.HubKey, v.rep.Fingerprint = record.PublicKeyString(key), Fingerprint(key)
	v.ok(CheckHubKey, fileHubKey, "Ed25519 key with SHA-256 fingerprint %s (trusted only once compared with the controller's published key)", v.rep.Fingerprint)
}

func (v *verifier) checkManifest() {
	mb, ok := v.get(fileManifest)
	if !ok {
		v.fail(CheckManifest, fileManifest, "missing from the bundle")
		v.skip(CheckManifestSig, fileManifestSig, "no manifest to check")
		return
	}
	// The signature first: it covers the manifest's bytes whatever they say.
	sig, ok := v.get(fileManifestSig)
	switch {
	case !ok:
		v.fail(CheckManifestSig, fileManifestSig, "missing from the bundle")
	case v.hubKey == nil:
		v.skip(CheckManifestSig, fileManifestSig, "no hub key to check it with")
	case len(sig) != ed25519.SignatureSize || !ed25519.Verify(v.hubKey, manifestMessage(mb), sig):
		v.fail(CheckManifestSig, fileManifestSig, "the hub's signature over manifest.json does not verify: the manifest (or the signature) was altered")
	default:
		v.signed = true
		v.ok(CheckManifestSig, fileManifestSig, "manifest.json is signed by the hub key")
	}

	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(mb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || dec.More() {
		v.fail(CheckManifest, fileManifest, "malformed (%v)", errOr(err, "trailing data"))
		return
	}
	if m.Format != Format {
		v.fail(CheckManifest, fileManifest, "format %q is not %q; this verifier cannot read it", m.Format, Format)
		return
	}
	v.m = &m
	v.rep.EventID = m.EventID
	problems := 0
	problem := func(format string, args ...any) {
		problems++
		v.fail(CheckManifest, fileManifest, format, args...)
	}
	if v.hubKey != nil && (m.HubKey != record.PublicKeyString(v.hubKey) || m.HubKeySHA256 != record.SHA256Hex(v.hubKey)) {
		problem("names hub key %s, but hub/public-key.txt holds another", m.HubKey)
	}
	listed := map[string]bool{}
	var want []string
	for _, f := range m.Files {
		if listed[f.Name] {
			problem("lists %s twice", f.Name)
			continue
		}
		listed[f.Name] = true
		want = append(want, f.Name)
		data, ok := v.files[f.Name]
		switch {
		case !ok:
			problem("file %s is missing from the bundle", f.Name)
		case len(data) != f.Size || record.SHA256Hex(data) != f.SHA256:
			problem("file %s altered: its SHA-256 is %s, the manifest says %s", f.Name, record.SHA256Hex(data), f.SHA256)
		}
	}
	for _, n := range m.Notices {
		text, ok := v.files[n.File]
		switch {
		case n.File != noticeFile(n.ID, n.Version):
			problem("notice %s version %d points to %s, not %s", n.ID, n.Version, n.File, noticeFile(n.ID, n.Version))
		case ok && record.SHA256Hex(text) != n.SHA256:
			problem("notice %s version %d: the manifest gives sha256 %s, but %s hashes to %s", n.ID, n.Version, n.SHA256, n.File, record.SHA256Hex(text))
		}
	}
	devs := map[string]bool{}
	for _, d := range m.Devices {
		devs[d.ID] = true
		if _, ok := v.files[deviceDir(d.ID)+fileEnrollment]; !ok {
			problem("device %s has no enrollment record in the bundle", d.ID)
		}
	}
	var have []string
	for _, name := range v.order {
		if rest, ok := strings.CutPrefix(name, "devices/"); ok {
			if id, _, _ := strings.Cut(rest, "/"); !devs[id] {
				problem("%s belongs to device %s, which the manifest does not list", name, id)
			}
		}
		if name == fileManifest || name == fileManifestSig {
			continue
		}
		have = append(have, name)
		if !listed[name] {
			problem("file %s is in the bundle but not in the manifest (added)", name)
		}
	}
	if problems == 0 && strings.Join(have, "\n") != strings.Join(want, "\n") {
		problem("the files are not in the manifest's order")
	}
	if problems == 0 {
		v.ok(CheckManifest, fileManifest, "%d files match their SHA-256; nothing missing or added", len(m.Files))
	}
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

// checkDevices reads each device's enrollment record: the device key the
// records are checked with is the one the enrollment binds to the device id.
func (v *verifier) checkDevices() {
	dirs := map[string]bool{}
	for _, name := range v.order {
		if rest, ok := strings.CutPrefix(name, "devices/"); ok {
			id, _, _ := strings.Cut(rest, "/")
			dirs[id] = true
		}
	}
	for _, id := range sortedKeys(dirs) {
		dir := deviceDir(id)
		eb, ok := v.get(dir + fileEnrollment)
		if !ok {
			v.fail(CheckDeviceKey, dir, "enrollment.json is missing")
			continue
		}
		en, key, err := ParseEnrollment(eb)
		if err != nil {
			v.fail(CheckDeviceKey, dir+fileEnrollment, "%v", err)
			continue
		}
		if en.DeviceID != id {
			v.fail(CheckDeviceKey, dir+fileEnrollment, "the enrollment record is for device %s, not %s", en.DeviceID, id)
			continue
		}
		kb, ok := v.get(dir + fileDeviceKey)
		if !ok {
			v.fail(CheckDeviceKey, dir, "public-key.txt is missing")
			continue
		}
		if pk, err := parseKeyText(kb); err != nil || !pk.Equal(key) {
			v.fail(CheckDeviceKey, dir+fileDeviceKey, "is not the sign_key of the device's enrollment record")
			continue
		}
		v.devKeys[id] = key
		v.ok(CheckDeviceKey, dir, "device %s (%s), enrolled %s, key SHA-256 %s", id, en.Name, en.EnrolledAt, Fingerprint(key))
	}
}

// signer returns the key a record of collector c must be signed with.
func (v *verifier) signer(c string) (ed25519.PublicKey, string, error) {
	if c == HubCollector {
		if v.hubKey == nil {
			return nil, "", errors.New("made by the hub, but the hub key is unreadable")
		}
		return v.hubKey, "hub", nil
	}
	if k, ok := v.devKeys[c]; ok {
		return k, "device", nil
	}
	return nil, "", fmt.Errorf("no valid enrollment record for device %s in the bundle", c)
}

// recordDirs lists the record folders present, by role; chain folders in seq order.
func (v *verifier) recordDirs() (related, chain []string) {
	seen := map[string]bool{}
	for _, name := range v.order {
		for _, prefix := range []string{"related/", "chain/"} {
			if rest, ok := strings.CutPrefix(name, prefix); ok {
				if id, _, ok := strings.Cut(rest, "/"); ok && !seen[prefix+id] {
					seen[prefix+id] = true
					if prefix == "related/" {
						related = append(related, prefix+id+"/")
					} else {
						chain = append(chain, prefix+id+"/")
					}
				}
			}
		}
	}
	sort.Strings(chain) // zero-padded seq
	return related, chain
}

// readRecord reads a record folder's envelope and checks its signature and
// countersignature. It returns the envelope (nil when unreadable).
func (v *verifier) readRecord(dir string, report bool) (record.Signed, *record.Envelope, []string) {
	var problems []string
	var s record.Signed
	eb, ok := v.get(dir + fileEnvelope)
	if !ok {
		return s, nil, []string{"envelope.json is missing"}
	}
	s.Envelope = eb
	s.Sig, _ = v.get(dir + fileSig)
	env, err := s.Decode()
	if err != nil {
		return s, nil, []string{fmt.Sprintf("envelope.json is malformed: %v", err)}
	}
	key, who, err := v.signer(env.Collector)
	switch {
	case err != nil:
		problems = append(problems, err.Error())
	case s.Sig == nil:
		problems = append(problems, "envelope.sig is missing")
	case s.Verify(key) != nil:
		problems = append(problems, who+" signature does not verify")
	}
	if report {
		if len(problems) > 0 {
			v.fail(CheckEnvelope, dir+fileEnvelope, "%s", strings.Join(problems, "; "))
		} else {
			v.ok(CheckEnvelope, dir+fileEnvelope, "%s record %s of %s, seq %d; %s signature verifies", env.Kind, env.ID, env.Collector, env.Seq, who)
		}
		problems = nil
	}
	if p := v.checkCountersig(dir, s, env.Collector, report); p != "" {
		problems = append(problems, p)
	}
	return s, env, problems
}

// revokedAt is when the manifest says device id was revoked, "" if not.
func (v *verifier) revokedAt(id string) string {
	if v.m == nil {
		return ""
	}
	for _, d := range v.m.Devices {
		if d.ID == id {
			return d.RevokedAt
		}
	}
	return ""
}

// receivedBefore reports whether received is a time before revoked; a
// time that does not parse is not.
func receivedBefore(received, revoked string) bool {
	r, err1 := time.Parse(time.RFC3339Nano, received)
	x, err2 := time.Parse(time.RFC3339Nano, revoked)
	return err1 == nil && err2 == nil && r.Before(x)
}

func (v *verifier) readCountersig(dir string) (*countersigFile, error) {
	b, ok := v.get(dir + fileCountersig)
	if !ok {
		return nil, errors.New("countersignature.json is missing")
	}
	var c countersigFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return nil, fmt.Errorf("countersignature.json is malformed (%s)", errOr(err, "trailing data"))
	}
	return &c, nil
}

func (v *verifier) checkCountersig(dir string, s record.Signed, collector string, report bool) string {
	problem := ""
	c, err := v.readCountersig(dir)
	switch {
	case err != nil:
		problem = err.Error()
	case c.EnvelopeSHA256 != s.HashHex():
		problem = fmt.Sprintf("names envelope sha256 %s, but envelope.json hashes to %s", c.EnvelopeSHA256, s.HashHex())
	case v.hubKey == nil:
		problem = "no hub key to check it with"
	case record.VerifyCountersign(v.hubKey, c.EnvelopeSHA256, c.ReceivedAt, c.Signature) != nil:
		problem = "the hub's countersignature over (envelope sha256, received_at) does not verify with the hub key"
	default:
		if revoked := v.revokedAt(collector); revoked != "" && !receivedBefore(c.ReceivedAt, revoked) {
			problem = fmt.Sprintf("the hub received it at %s, not before its device was revoked at %s", c.ReceivedAt, revoked)
		}
	}
	if !report {
		if problem != "" {
			return "countersignature: " + problem
		}
		return ""
	}
	if problem != "" {
		v.fail(CheckCountersig, dir+fileCountersig, "%s", problem)
	} else {
		v.ok(CheckCountersig, dir+fileCountersig, "the hub held this envelope at %s%s", c.ReceivedAt, v.findings(dir))
	}
	return ""
}

// findings names the hub's flags on a record (clock_suspect, gap, fork,
// chain_break), as the signed manifest gives them.
func (v *verifier) findings(dir string) string {
	if v.m == nil {
		return ""
	}
	for _, r := range v.m.Records {
		if r.Dir == dir && len(r.Flags) > 0 {
			return " (hub findings: " + strings.Join(r.Flags, ", ") + ")"
		}
	}
	return ""
}

func (v *verifier) checkRecords() {
	s, env, _ := v.readRecord("record/", true)
	if env == nil {
		if _, ok := v.files["record/"+fileEnvelope]; !ok {
			v.fail(CheckEnvelope, "record/"+fileEnvelope, "missing from the bundle")
		} else {
			v.fail(CheckEnvelope, "record/"+fileEnvelope, "%v", decodeErr(s))
		}
		v.skip(CheckChain, "chain/", "no readable record to start from")
		return
	}
	v.mainEnv, v.mainHash = env, s.HashHex()
	if v.rep.EventID == "" {
		v.rep.EventID = env.ID
	}
	if v.m != nil && v.m.EventID != env.ID {
		v.fail(CheckManifest, fileManifest, "event_id %s is not the id of record/envelope.json (%s)", v.m.EventID, env.ID)
	}
	v.checkContent("record/", env, true)

	related, chain := v.recordDirs()
	for _, dir := range related {
		v.checkRelated(dir)
	}
	v.checkChain(chain)
	v.checkManifestRecords(related, chain)
}

func decodeErr(s record.Signed) error { _, err := s.Decode(); return err }

// checkContent checks what an envelope pins by hash: payload, handwritten
// signature (PNG and drawing) and notice text.
func (v *verifier) checkContent(dir string, env *record.Envelope, required bool) {
	pb, hasPayload := v.get(dir + filePayload)
	var p *record.Payload
	switch {
	case env.PayloadSHA256 == "" && hasPayload:
		v.fail(CheckPayload, dir+filePayload, "present, but the envelope names no payload_sha256")
	case env.PayloadSHA256 == "":
	case !hasPayload && required:
		v.fail(CheckPayload, dir+filePayload, "missing: the envelope pins a payload (payload_sha256 %s) the bundle does not hold", env.PayloadSHA256)
	case !hasPayload:
		v.ok(CheckPayload, dir+filePayload, "not included for this related record")
	case record.PayloadHash(pb) != env.PayloadSHA256:
		v.fail(CheckPayload, dir+filePayload, "sha256 %s does not match envelope payload_sha256 %s", record.PayloadHash(pb), env.PayloadSHA256)
	default:
		var err error
		if p, err = record.DecodePayload(pb); err != nil {
			v.fail(CheckPayload, dir+filePayload, "%v", err)
		} else {
			v.ok(CheckPayload, dir+filePayload, "sha256 matches envelope payload_sha256")
		}
	}
	v.checkHandwriting(dir, env, p)
	if env.Notice.SHA256 != "" {
		name := noticeFile(env.Notice.ID, env.Notice.Version)
		text, ok := v.get(name)
		switch {
		case !ok:
			v.fail(CheckNotice, name, "notice %s version %d (sha256 %s) is not in the bundle", env.Notice.ID, env.Notice.Version, env.Notice.SHA256)
		case record.SHA256Hex(text) != env.Notice.SHA256:
			v.fail(CheckNotice, name, "sha256 %s does not match envelope notice.sha256 %s", record.SHA256Hex(text), env.Notice.SHA256)
		default:
			v.ok(CheckNotice, name, "sha256 matches envelope notice.sha256 (%s version %d)", env.Notice.ID, env.Notice.Version)
		}
	}
}

func (v *verifier) checkHandwriting(dir string, env *record.Envelope, p *record.Payload) {
	img, hasPNG := v.get(dir + fileSigPNG)
	svg, hasSVG := v.get(dir + fileSigSVG)
	if p == nil {
		// No valid payload (reported by the payload check, or not included
		// for a related record): the image can still be held to the
		// envelope's hash, the drawing cannot be checked.
		switch {
		case !hasPNG && !hasSVG:
		case hasPNG && env.SignatureSHA256 != "" && record.SHA256Hex(img) != env.SignatureSHA256:
			v.fail(CheckImage, dir+fileSigPNG, "sha256 %s does not match envelope signature_sha256 %s", record.SHA256Hex(img), env.SignatureSHA256)
		default:
			v.skip(CheckImage, dir+fileSigPNG, "not checkable without a valid payload")
		}
		return
	}
	var pngInPayload []byte
	var points [][]record.Point
	if p.Signature != nil {
		pngInPayload, points = p.Signature.PNG, p.Signature.Points
	}
	switch {
	case len(pngInPayload) == 0 && env.SignatureSHA256 == "" && !hasPNG:
	case !hasPNG:
		v.fail(CheckImage, dir+fileSigPNG, "missing: the payload holds a handwritten signature")
	case env.SignatureSHA256 == "":
		v.fail(CheckImage, dir+fileSigPNG, "present, but the envelope names no signature_sha256")
	case record.SHA256Hex(img) != env.SignatureSHA256:
		v.fail(CheckImage, dir+fileSigPNG, "sha256 %s does not match envelope signature_sha256 %s", record.SHA256Hex(img), env.SignatureSHA256)
	case !bytes.Equal(img, pngInPayload):
		v.fail(CheckImage, dir+fileSigPNG, "is not the PNG in the payload")
	default:
		if _, err := png.DecodeConfig(bytes.NewReader(img)); err != nil {
			v.fail(CheckImage, dir+fileSigPNG, "matches the envelope but is not a readable PNG (%v)", err)
		} else {
			v.ok(CheckImage, dir+fileSigPNG, "sha256 matches envelope signature_sha256 and the payload's PNG")
		}
	}
	want := SVG(points)
	switch {
	case want == nil && !hasSVG:
	case want == nil:
		v.fail(CheckSVG, dir+fileSigSVG, "present, but the payload holds no signature strokes")
	case !hasSVG:
		v.fail(CheckSVG, dir+fileSigSVG, "missing: the payload holds signature strokes")
	case !bytes.Equal(svg, want):
		v.fail(CheckSVG, dir+fileSigSVG, "is not the drawing of the payload's %d stroke(s)", len(points))
	default:
		v.ok(CheckSVG, dir+fileSigSVG, "drawn from the payload's %d stroke(s)", len(points))
	}
}

// checkRelated checks a record that belongs with the main one.
func (v *verifier) checkRelated(dir string) {
	_, env, problems := v.readRecord(dir, false)
	if env == nil {
		v.fail(CheckRelated, dir, "%s", strings.Join(problems, "; "))
		return
	}
	main := v.mainEnv
	switch {
	case dir != recordDir(RoleRelated, env.ID, 0):
		problems = append(problems, fmt.Sprintf("holds record %s, not the one its folder names", env.ID))
	case env.ID == main.ID:
		problems = append(problems, "is the record itself")
	case !(env.Ref == main.ID || (main.Ref != "" && (env.ID == main.Ref || env.Ref == main.Ref))):
		problems = append(problems, "neither refers to this record nor is the record it refers to")
	}
	if len(problems) > 0 {
		v.fail(CheckRelated, dir, "%s", strings.Join(problems, "; "))
	} else {
		who := "device"
		if env.Collector == HubCollector {
			who = "hub"
		}
		v.ok(CheckRelated, dir, "%s record %s: %s; %s signature and hub countersignature (received %s) verify",
			env.Kind, env.ID, relation(main, env), who, v.receivedAt(dir))
	}
	v.checkContent(dir, env, false)
}

func (v *verifier) receivedAt(dir string) string {
	if c, err := v.readCountersig(dir); err == nil {
		return c.ReceivedAt
	}
	return "?"
}

// checkChain walks the record's successors: each must be the next seq of
// the same stream, name its predecessor's SHA-256, be signed by the same
// device and countersigned by the hub.
func (v *verifier) checkChain(dirs []string) {
	main := v.mainEnv
	prevHash, prevSeq := v.mainHash, main.Seq
	fails := 0
	failf := func(file, format string, args ...any) {
		if fails++; fails <= maxChainFailLines {
			v.fail(CheckChain, file, format, args...)
		}
	}
	for _, dir := range dirs {
		s, env, problems := v.readRecord(dir, false)
		if env == nil {
			failf(dir, "%s", strings.Join(problems, "; "))
			prevHash, prevSeq = "", prevSeq+1
			continue
		}
		switch {
		case dir != recordDir(RoleChain, "", env.Seq):
			problems = append(problems, fmt.Sprintf("holds seq %d, not the seq its folder names", env.Seq))
		case env.Collector != main.Collector || env.Epoch != main.Epoch:
			problems = append(problems, fmt.Sprintf("belongs to stream %s/%s, not %s/%s", env.Collector, env.Epoch, main.Collector, main.Epoch))
		case env.Seq != prevSeq+1:
			problems = append(problems, fmt.Sprintf("seq %d does not follow seq %d", env.Seq, prevSeq))
		case env.Prev != prevHash:
			problems = append(problems, fmt.Sprintf("prev %s is not the SHA-256 of seq %d (%s)", env.Prev, prevSeq, prevHash))
		}
		if len(problems) > 0 {
			failf(dir, "%s", strings.Join(problems, "; "))
		}
		prevHash, prevSeq = s.HashHex(), env.Seq
	}
	if fails > maxChainFailLines {
		v.fail(CheckChain, "chain/", "%d more chain records fail", fails-maxChainFailLines)
	}
	if fails > 0 {
		return
	}
	span := fmt.Sprintf("%d later record(s), seq %d to %d, link by prev hash; device signatures and hub countersignatures verify", len(dirs), main.Seq, prevSeq)
	if len(dirs) == 0 {
		span = "no later records in the bundle"
	}
	if v.m == nil {
		v.skip(CheckChain, "chain/", "%s; the hub's head is unknown without a readable manifest", span)
		return
	}
	c := v.m.Chain
	switch {
	case c.Collector != main.Collector || c.Epoch != main.Epoch || c.From != main.Seq || c.Through != prevSeq:
		v.fail(CheckChain, "chain/", "the manifest describes stream %s/%s seq %d to %d, but the bundle holds %s/%s seq %d to %d",
			c.Collector, c.Epoch, c.From, c.Through, main.Collector, main.Epoch, main.Seq, prevSeq)
	case prevSeq > c.HeadSeq:
		v.fail(CheckChain, "chain/", "runs to seq %d, past the hub's acknowledged head (seq %d)", prevSeq, c.HeadSeq)
	case prevSeq == c.HeadSeq && prevHash == c.HeadSHA256:
		v.ok(CheckChain, "chain/", "%s; it reaches the hub's acknowledged head of stream %s/%s", span, main.Collector, main.Epoch)
	case c.Note == "":
		v.fail(CheckChain, "chain/", "%s, but stops short of the hub's acknowledged head (seq %d, sha256 %s) and the manifest gives no reason", span, c.HeadSeq, c.HeadSHA256)
	default:
		v.ok(CheckChain, "chain/", "%s; the hub's acknowledged head is seq %d: %s", span, c.HeadSeq, c.Note)
	}
}

// checkManifestRecords holds the manifest's record list to the folders present.
func (v *verifier) checkManifestRecords(related, chain []string) {
	if v.m == nil {
		return
	}
	var want []string
	for _, r := range v.m.Records {
		want = append(want, r.Role+" "+r.Dir)
	}
	have := []string{RoleRecord + " record/"}
	for _, d := range related {
		have = append(have, RoleRelated+" "+d)
	}
	for _, d := range chain {
		have = append(have, RoleChain+" "+d)
	}
	if strings.Join(want, ",") != strings.Join(have, ",") {
		v.fail(CheckManifest, fileManifest, "its record list does not match the record folders in the bundle")
	}
}

// checkSummary renders summary.html again from the files and compares. A
// page that differs but is exactly the one the hub signed passes too: it
// was made by another version of the layout (or of html/template), and a
// bundle kept for years must not turn invalid when the verifier is
// upgraded. Any change after signing fails both ways.
func (v *verifier) checkSummary() {
	html, ok := v.get(fileSummary)
	if !ok {
		v.fail(CheckSummary, fileSummary, "missing from the bundle")
		return
	}
	want, err := v.render()
	if err == nil && bytes.Equal(html, want) {
		v.ok(CheckSummary, fileSummary, "says what the bundle's files say (rendered again from them and compared)")
		return
	}
	signed := false
	if v.signed && v.m != nil {
		for _, f := range v.m.Files {
			signed = signed || (f.Name == fileSummary && f.SHA256 == record.SHA256Hex(html))
		}
	}
	switch {
	case signed:
		v.ok(CheckSummary, fileSummary, "is the page the hub signed (%s); this verifier lays the page out differently, so it was not compared line by line", v.m.Generator)
	case err != nil:
		v.fail(CheckSummary, fileSummary, "is not the page the hub signed, and cannot be rendered again to compare (%v)", err)
	default:
		v.fail(CheckSummary, fileSummary, "is not what the bundle's files say (first difference on line %d) nor the page the hub signed: it was altered", firstDiffLine(html, want))
	}
}

// render draws summary.html again from the files.
func (v *verifier) render() ([]byte, error) {
	b, err := v.rebuild()
	if err != nil {
		return nil, err
	}
	d, err := decode(b)
	if err != nil {
		return nil, err
	}
	return summary(b, d)
}

func firstDiffLine(a, b []byte) int {
	line := 1
	for i := 0; i < len(a) && i < len(b) && a[i] == b[i]; i++ {
		if a[i] == '\n' {
			line++
		}
	}
	return line
}

// rebuild reads the bundle back into a Bundle, as Build was given it.
func (v *verifier) rebuild() (*Bundle, error) {
	m := v.m
	if m == nil {
		return nil, errors.New("the manifest is unreadable")
	}
	if v.hubKey == nil {
		return nil, errors.New("the hub key is unreadable")
	}
	b := &Bundle{GeneratedAt: m.GeneratedAt, Generator: m.Generator, HubKey: v.hubKey, Touchpoints: m.Touchpoints, Conflicts: m.Conflicts}
	if len(b.Touchpoints) == 0 {
		b.Touchpoints = nil
	}
	if len(b.Conflicts) == 0 {
		b.Conflicts = nil
	}
	b.Chain.HeadSeq, b.Chain.HeadSHA256, b.Chain.Note = m.Chain.HeadSeq, m.Chain.HeadSHA256, m.Chain.Note
	for _, mr := range m.Records {
		r := Record{CorrectedAt: mr.CorrectedAt, ClockOffsetMS: mr.ClockOffsetMS, Flags: mr.Flags}
		r.Signed.Envelope = v.files[mr.Dir+fileEnvelope]
		r.Signed.Sig = v.files[mr.Dir+fileSig]
		if p, ok := v.files[mr.Dir+filePayload]; ok {
			r.Payload = p
		}
		c, err := v.readCountersig(mr.Dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", mr.Dir, err)
		}
		r.ReceivedAt, r.Countersig = c.ReceivedAt, c.Signature
		switch mr.Role {
		case RoleRecord:
			b.Record = r
		case RoleRelated:
			b.Related = append(b.Related, r)
		case RoleChain:
			b.Chain.Records = append(b.Chain.Records, r)
		default:
			return nil, fmt.Errorf("the manifest names an unknown record role %q", mr.Role)
		}
	}
	for _, md := range m.Devices {
		d := Device{ID: md.ID, RevokedAt: md.RevokedAt, Enrollment: v.files[deviceDir(md.ID)+fileEnrollment]}
		d.SignKey, _ = parseKeyText(v.files[deviceDir(md.ID)+fileDeviceKey])
		b.Devices = append(b.Devices, d)
	}
	for _, mn := range m.Notices {
		text, ok := v.files[noticeFile(mn.ID, mn.Version)]
		if !ok {
			return nil, fmt.Errorf("notice text %s is missing", noticeFile(mn.ID, mn.Version))
		}
		b.Notices = append(b.Notices, Notice{ID: mn.ID, Version: mn.Version, Language: mn.Language, Title: mn.Title, Summary: mn.Summary, Text: text})
	}
	return b, nil
}

// checkUnexpected reports files no check looked at: the format has no
// place for them.
func (v *verifier) checkUnexpected() {
	if v.mainEnv == nil {
		return // the record folders went unread; listing their files adds nothing
	}
	for _, name := range v.order {
		if !v.used[name] {
			v.fail(CheckZip, name, "not part of the bundle format (added, or misplaced)")
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
