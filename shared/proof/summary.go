package proof

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"

	"github.com/attesta/attesta/shared/record"
)

//go:embed summary.html
var summaryFS embed.FS

var summaryTmpl = template.Must(template.New("summary.html").Funcs(template.FuncMap{
	"kindText": kindText,
}).ParseFS(summaryFS, "summary.html"))

// recView is one record as the summary shows it.
type recView struct {
	Dir           string
	Env           *record.Envelope
	SHA256        string
	Sig           string
	Countersig    string
	ReceivedAt    string
	CorrectedAt   string
	ClockOffsetMS int64
	Flags         []string
	HubSigned     bool
	Relation      string
}

type summaryView struct {
	Rec          recView
	Related      []recView
	Generated    string
	Generator    string
	HubKey       string
	HubPrint     string
	Subject      *record.Subject
	SubjectFrom  string // the folder whose payload the subject comes from
	SignatureSVG template.HTML
	SignaturePNG template.URL
	Strokes      int
	Notice       *Notice
	NoticeSHA    string
	NoticeFile   string
	NoticeText   string
	Device       *Enrollment
	DeviceKey    string
	DevicePrint  string
	RevokedAt    string
	Touchpoint   *Touchpoint
	Chain        ManifestChain
	ChainCount   int
	ChainReaches bool
	Conflicts    []Conflict
	Format       string
}

func kindText(k record.Kind) string {
	switch k {
	case record.Given:
		return "Consent given"
	case record.Refused:
		return "Consent refused"
	case record.Withdrawn:
		return "Consent withdrawn"
	case record.NoticeViewed:
		return "Notice shown (presa visione)"
	case record.Expired:
		return "Consent expired"
	}
	return string(k)
}

func relation(main, rel *record.Envelope) string {
	switch {
	case rel.Ref == main.ID && rel.Kind == record.NoticeViewed:
		return "the notice was shown for this record (presa visione)"
	case rel.Ref == main.ID && rel.Kind == record.Withdrawn:
		return "withdraws purposes of this record"
	case rel.Ref == main.ID:
		return "refers to this record"
	case main.Ref == rel.ID:
		return "the record this one refers to"
	}
	return "refers to the same record as this one"
}

// decoded holds the envelopes of a bundle's records, parsed.
type decoded struct {
	rec     *record.Envelope
	related []*record.Envelope // as Bundle.Related
	chain   []*record.Envelope // as Bundle.Chain.Records
}

// decode parses every envelope of b strictly.
func decode(b *Bundle) (*decoded, error) {
	var d decoded
	var err error
	if d.rec, err = b.Record.Signed.Decode(); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	for i, r := range b.Related {
		e, err := r.Signed.Decode()
		if err != nil {
			return nil, fmt.Errorf("related record %d: %w", i, err)
		}
		d.related = append(d.related, e)
	}
	for i, r := range b.Chain.Records {
		e, err := r.Signed.Decode()
		if err != nil {
			return nil, fmt.Errorf("chain record %d: %w", i, err)
		}
		d.chain = append(d.chain, e)
	}
	return &d, nil
}

// chainInfo is the manifest's account of the chain.
func chainInfo(b *Bundle, d *decoded) ManifestChain {
	through := d.rec.Seq
	if n := len(d.chain); n > 0 {
		through = d.chain[n-1].Seq
	}
	return ManifestChain{Collector: d.rec.Collector, Epoch: d.rec.Epoch, From: d.rec.Seq, Through: through,
		HeadSeq: b.Chain.HeadSeq, HeadSHA256: b.Chain.HeadSHA256, Note: b.Chain.Note}
}

// summary renders summary.html. It reads only what the bundle holds, so
// the verifier can render it again from the files and compare.
func summary(b *Bundle, d *decoded) ([]byte, error) {
	view := func(dir string, r Record, e *record.Envelope) recView {
		return recView{Dir: dir, Env: e, SHA256: r.Signed.HashHex(), Sig: hex.EncodeToString(r.Signed.Sig),
			Countersig: hex.EncodeToString(r.Countersig), ReceivedAt: r.ReceivedAt, CorrectedAt: r.CorrectedAt,
			ClockOffsetMS: r.ClockOffsetMS, Flags: r.Flags, HubSigned: e.Collector == HubCollector}
	}
	main := d.rec
	v := summaryView{Rec: view(recordDir(RoleRecord, "", 0), b.Record, main), Generated: b.GeneratedAt, Generator: b.Generator,
		HubKey: record.PublicKeyString(b.HubKey), HubPrint: Fingerprint(b.HubKey), Conflicts: b.Conflicts, Format: Format,
		Chain: chainInfo(b, d), ChainCount: len(b.Chain.Records)}
	v.ChainReaches = v.Chain.Through == v.Chain.HeadSeq && v.Chain.Note == ""

	// The person and their signature come from this record's payload, or,
	// for a withdrawal or a notice view, from the consent it refers to.
	payloads := []struct {
		dir string
		b   []byte
	}{{recordDir(RoleRecord, "", 0), b.Record.Payload}}
	for i, r := range b.Related {
		e := d.related[i]
		rv := view(recordDir(RoleRelated, e.ID, 0), r, e)
		rv.Relation = relation(main, e)
		v.Related = append(v.Related, rv)
		if main.Ref != "" && e.ID == main.Ref {
			payloads = append(payloads, struct {
				dir string
				b   []byte
			}{rv.Dir, r.Payload})
		}
	}
	for _, pl := range payloads {
		if pl.b == nil {
			continue
		}
		p, err := record.DecodePayload(pl.b)
		if err != nil {
			continue
		}
		v.Subject, v.SubjectFrom = &p.Subject, pl.dir
		if p.Signature != nil {
			if svg := SVG(p.Signature.Points); svg != nil {
				v.SignatureSVG = template.HTML(svg) // drawn from numbers by SVG, never copied from input
				v.Strokes = len(p.Signature.Points)
			}
			if len(p.Signature.PNG) > 0 {
				v.SignaturePNG = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(p.Signature.PNG))
			}
		}
		break
	}
	for i, n := range b.Notices {
		if n.ID == main.Notice.ID && n.Version == main.Notice.Version {
			v.Notice, v.NoticeSHA, v.NoticeFile, v.NoticeText = &b.Notices[i], record.SHA256Hex(n.Text), noticeFile(n.ID, n.Version), string(n.Text)
		}
	}
	for _, dev := range b.Devices {
		if dev.ID != main.Collector {
			continue
		}
		if en, key, err := ParseEnrollment(dev.Enrollment); err == nil {
			v.Device, v.DeviceKey, v.DevicePrint, v.RevokedAt = en, record.PublicKeyString(key), Fingerprint(key), dev.RevokedAt
		}
	}
	for i, t := range b.Touchpoints {
		if t.ID == main.Touchpoint {
			v.Touchpoint = &b.Touchpoints[i]
		}
	}
	var out bytes.Buffer
	if err := summaryTmpl.Execute(&out, v); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
