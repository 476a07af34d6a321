package proof

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/attesta/attesta/shared/record"
)

// Format names the bundle layout this package writes and reads.
const Format = "attesta-proof/1"

// HubCollector is the collector name of records the hub signs itself.
const HubCollector = "hub"

// MaxChain is how many successors of a record a bundle carries at most; a
// chain longer than that stops short of the head, and the manifest says so.
// It bounds a bundle to tens of megabytes for a record made long ago.
const MaxChain = 1000

// Record is one signed record as the hub holds it.
type Record struct {
	Signed        record.Signed
	ReceivedAt    string   // hub time, exactly as countersigned
	Countersig    []byte   // record.Countersign over (envelope SHA-256, ReceivedAt)
	Payload       []byte   // the opened personal payload, exact bytes; nil when not included
	CorrectedAt   string   // device time corrected by the clock offset measured at connect
	ClockOffsetMS int64    // device clock minus hub clock
	Flags         []string // the hub's findings: clock_suspect, gap, fork, chain_break
}

// Device is a collector that signed a record in the bundle.
type Device struct {
	ID         string
	SignKey    ed25519.PublicKey
	Enrollment []byte // the enrollment record exactly as the hub stored it (JSON)
	RevokedAt  string // "" while active
}

// Notice is one notice version as shown.
type Notice struct {
	ID       string
	Version  int
	Language string
	Title    string
	Summary  string // the short first layer the kiosk shows
	Text     []byte // the full text, exactly; its SHA-256 is the envelope's notice.sha256
}

// Touchpoint names a touchpoint for the summary.
type Touchpoint struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Location string `json:"location,omitempty"`
}

// Chain is a record's successors in its (collector, epoch) stream.
type Chain struct {
	Records    []Record // seq order, starting right after the record
	HeadSeq    uint64   // the hub's acknowledged head of the stream
	HeadSHA256 string
	Note       string // why the chain stops before the head; "" when it reaches it
}

// Conflict is another record the hub received under the same id with
// different content: evidence kept at the hub, not part of the proof.
type Conflict struct {
	SHA256     string `json:"sha256"`
	ReceivedAt string `json:"received_at"`
}

// Bundle is everything a proof holds, before it is written or after it is read.
type Bundle struct {
	GeneratedAt string // hub time of the export
	Generator   string // e.g. "attesta-hub 0.1.0"
	Record      Record
	Related     []Record // records that reference it, or that it references, and their siblings
	Chain       Chain
	Devices     []Device // every device that signed a record above (not the hub)
	Notices     []Notice
	Touchpoints []Touchpoint
	HubKey      ed25519.PublicKey
	Conflicts   []Conflict
}

// Manifest is manifest.json: the index of a bundle, signed by the hub.
type Manifest struct {
	Format       string         `json:"format"`
	EventID      string         `json:"event_id"`
	GeneratedAt  string         `json:"generated_at"`
	Generator    string         `json:"generator"`
	HubKey       string         `json:"hub_key"`        // base64 Ed25519
	HubKeySHA256 string         `json:"hub_key_sha256"` // its fingerprint
	Records      []ManifestRec  `json:"records"`
	Chain        ManifestChain  `json:"chain"`
	Devices      []ManifestDev  `json:"devices"`
	Notices      []ManifestNote `json:"notices"`
	Touchpoints  []Touchpoint   `json:"touchpoints"`
	Conflicts    []Conflict     `json:"conflicts"`
	Files        []ManifestFile `json:"files"` // every file but manifest.json and manifest.sig, in zip order
}

// ManifestRec is the hub-side metadata of one record folder.
type ManifestRec struct {
	Dir           string   `json:"dir"`
	Role          string   `json:"role"` // record, related or chain
	ID            string   `json:"id"`
	CorrectedAt   string   `json:"corrected_at"`
	ClockOffsetMS int64    `json:"clock_offset_ms"`
	Flags         []string `json:"flags"`
}

// ManifestChain says how far the chain goes.
type ManifestChain struct {
	Collector  string `json:"collector"`
	Epoch      string `json:"epoch"`
	From       uint64 `json:"from"`    // the record's seq
	Through    uint64 `json:"through"` // the last seq in the bundle
	HeadSeq    uint64 `json:"head_seq"`
	HeadSHA256 string `json:"head_sha256"`
	Note       string `json:"note,omitempty"`
}

// ManifestDev is hub-side state of a device not in its enrollment record.
type ManifestDev struct {
	ID        string `json:"id"`
	RevokedAt string `json:"revoked_at,omitempty"`
}

// ManifestNote describes a notice text file.
type ManifestNote struct {
	ID       string `json:"id"`
	Version  int    `json:"version"`
	Language string `json:"language"`
	Title    string `json:"title"`
	Summary  string `json:"summary"`
	SHA256   string `json:"sha256"`
	File     string `json:"file"`
}

// ManifestFile is one file and its SHA-256.
type ManifestFile struct {
	Name   string `json:"name"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

// Roles of record folders.
const (
	RoleRecord  = "record"
	RoleRelated = "related"
	RoleChain   = "chain"
)

// File names.
const (
	fileManifest     = "manifest.json"
	fileManifestSig  = "manifest.sig"
	fileSummary      = "summary.html"
	fileHubKey       = "hub/public-key.txt"
	fileEnvelope     = "envelope.json"
	fileSig          = "envelope.sig"
	fileCountersig   = "countersignature.json"
	filePayload      = "payload.json"
	fileSigPNG       = "signature.png"
	fileSigSVG       = "signature.svg"
	fileEnrollment   = "enrollment.json"
	fileDeviceKey    = "public-key.txt"
	manifestSigMagic = "attesta/proof-manifest/v1\n"
)

func recordDir(role, id string, seq uint64) string {
	switch role {
	case RoleRecord:
		return "record/"
	case RoleRelated:
		return "related/" + id + "/"
	}
	return fmt.Sprintf("chain/%010d/", seq)
}

func deviceDir(id string) string { return "devices/" + id + "/" }

func noticeFile(id string, version int) string { return fmt.Sprintf("notices/%s/v%d.txt", id, version) }

// countersigFile is countersignature.json.
type countersigFile struct {
	EnvelopeSHA256 string `json:"envelope_sha256"`
	ReceivedAt     string `json:"received_at"`
	Signature      []byte `json:"signature"` // base64 Ed25519 by the hub key
}

// Enrollment is the enrollment record the hub issued a device. Unknown
// fields are kept in the stored bytes and ignored here.
type Enrollment struct {
	DeviceID   string `json:"device_id"`
	Name       string `json:"name"`
	Touchpoint string `json:"touchpoint"`
	SignKey    string `json:"sign_key"` // base64 Ed25519
	EnrolledAt string `json:"enrolled_at"`
	AppVersion string `json:"app_version"`
	Host       string `json:"host"`
}

// ParseEnrollment reads an enrollment record and the key it binds.
func ParseEnrollment(b []byte) (*Enrollment, ed25519.PublicKey, error) {
	var e Enrollment
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, nil, fmt.Errorf("malformed enrollment record: %v", err)
	}
	if e.DeviceID == "" {
		return nil, nil, errors.New("enrollment record has no device_id")
	}
	key, err := record.ParsePublicKey(e.SignKey)
	if err != nil {
		return nil, nil, fmt.Errorf("enrollment record sign_key: %v", err)
	}
	return &e, key, nil
}

// keyText is how public-key.txt files hold a key: base64 and a newline.
func keyText(pub ed25519.PublicKey) []byte { return []byte(record.PublicKeyString(pub) + "\n") }

func parseKeyText(b []byte) (ed25519.PublicKey, error) {
	s, ok := strings.CutSuffix(string(b), "\n")
	if !ok {
		return nil, errors.New("not a base64 key followed by a newline")
	}
	if base64.StdEncoding.EncodeToString(mustDecode(s)) != s {
		return nil, errors.New("not canonical base64")
	}
	return record.ParsePublicKey(s)
}

func mustDecode(s string) []byte { b, _ := base64.StdEncoding.DecodeString(s); return b }

// Fingerprint is the SHA-256 of a raw public key in hex, grouped by four
// characters so it can be read out and compared over the phone.
func Fingerprint(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	x := hex.EncodeToString(h[:])
	var b strings.Builder
	for i := 0; i < len(x); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x[i : i+4])
	}
	return b.String()
}

func manifestMessage(m []byte) []byte { return append([]byte(manifestSigMagic), m...) }
