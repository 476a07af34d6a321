package proof

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/attesta/attesta/shared/record"
)

// Build writes a bundle as a zip and signs its manifest with the hub key,
// whose public half must be b.HubKey. It checks only what it needs to name
// the files; whether the records verify is Verify's business, so a bundle
// of a damaged record still says what is wrong with it.
func Build(b *Bundle, hubKey ed25519.PrivateKey) ([]byte, error) {
	if len(hubKey) != ed25519.PrivateKeySize || !hubKey.Public().(ed25519.PublicKey).Equal(b.HubKey) {
		return nil, errors.New("proof: the signing key is not the bundle's hub key")
	}
	if len(b.Chain.Records) > MaxChain {
		return nil, fmt.Errorf("proof: %d chain records exceed the limit of %d", len(b.Chain.Records), MaxChain)
	}
	d, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	files, m, err := layout(b, d)
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	mb = append(mb, '\n')
	sig := ed25519.Sign(hubKey, manifestMessage(mb))
	files = append([]file{{fileManifest, mb}, {fileManifestSig, sig}}, files...)
	z, err := writeZip(files)
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	return z, nil
}

// layout makes every file but the manifest and its signature, in zip order,
// and the manifest that lists them.
func layout(b *Bundle, d *decoded) ([]file, *Manifest, error) {
	m := &Manifest{Format: Format, EventID: d.rec.ID, GeneratedAt: b.GeneratedAt, Generator: b.Generator,
		HubKey: record.PublicKeyString(b.HubKey), HubKeySHA256: record.SHA256Hex(b.HubKey),
		Chain: chainInfo(b, d), Records: []ManifestRec{}, Devices: []ManifestDev{}, Notices: []ManifestNote{},
		Touchpoints: b.Touchpoints, Conflicts: b.Conflicts, Files: []ManifestFile{}}
	if m.Touchpoints == nil {
		m.Touchpoints = []Touchpoint{}
	}
	if m.Conflicts == nil {
		m.Conflicts = []Conflict{}
	}
	html, err := summary(b, d)
	if err != nil {
		return nil, nil, fmt.Errorf("summary: %w", err)
	}
	files := []file{{fileSummary, html}, {fileHubKey, keyText(b.HubKey)}}
	seen := map[string]bool{}
	addRecord := func(role string, r Record, e *record.Envelope) error {
		dir := recordDir(role, e.ID, e.Seq)
		if seen[dir] {
			return fmt.Errorf("record %s appears twice", dir)
		}
		seen[dir] = true
		cs, err := json.MarshalIndent(countersigFile{EnvelopeSHA256: r.Signed.HashHex(), ReceivedAt: r.ReceivedAt, Signature: r.Countersig}, "", "  ")
		if err != nil {
			return err
		}
		files = append(files, file{dir + fileEnvelope, r.Signed.Envelope}, file{dir + fileSig, r.Signed.Sig},
			file{dir + fileCountersig, append(cs, '\n')})
		if r.Payload != nil {
			files = append(files, file{dir + filePayload, r.Payload})
			if p, err := record.DecodePayload(r.Payload); err == nil && p.Signature != nil {
				if len(p.Signature.PNG) > 0 {
					files = append(files, file{dir + fileSigPNG, p.Signature.PNG})
				}
				if svg := SVG(p.Signature.Points); svg != nil {
					files = append(files, file{dir + fileSigSVG, svg})
				}
			}
		}
		flags := r.Flags
		if flags == nil {
			flags = []string{}
		}
		m.Records = append(m.Records, ManifestRec{Dir: dir, Role: role, ID: e.ID, CorrectedAt: r.CorrectedAt,
			ClockOffsetMS: r.ClockOffsetMS, Flags: flags})
		return nil
	}
	if err := addRecord(RoleRecord, b.Record, d.rec); err != nil {
		return nil, nil, err
	}
	for i, r := range b.Related {
		if err := addRecord(RoleRelated, r, d.related[i]); err != nil {
			return nil, nil, err
		}
	}
	for _, dev := range b.Devices {
		if err := checkName(deviceDir(dev.ID) + fileEnrollment); err != nil {
			return nil, nil, fmt.Errorf("device id: %w", err)
		}
		files = append(files, file{deviceDir(dev.ID) + fileEnrollment, dev.Enrollment}, file{deviceDir(dev.ID) + fileDeviceKey, keyText(dev.SignKey)})
		m.Devices = append(m.Devices, ManifestDev{ID: dev.ID, RevokedAt: dev.RevokedAt})
	}
	for _, n := range b.Notices {
		name := noticeFile(n.ID, n.Version)
		files = append(files, file{name, n.Text})
		m.Notices = append(m.Notices, ManifestNote{ID: n.ID, Version: n.Version, Language: n.Language, Title: n.Title,
			Summary: n.Summary, SHA256: record.SHA256Hex(n.Text), File: name})
	}
	for i, r := range b.Chain.Records {
		if err := addRecord(RoleChain, r, d.chain[i]); err != nil {
			return nil, nil, err
		}
	}
	for _, f := range files {
		if err := checkName(f.Name); err != nil {
			return nil, nil, err
		}
		m.Files = append(m.Files, ManifestFile{Name: f.Name, Size: len(f.Data), SHA256: record.SHA256Hex(f.Data)})
	}
	return files, m, nil
}
