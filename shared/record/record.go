// Package record defines the consent record: the envelope a collector signs,
// its canonical bytes, the per-device hash chain, and the personal payload
// that is sealed to the hub's key at capture.
//
// The signed bytes are the envelope's JSON exactly as the device produced it.
// They travel and are stored verbatim (Signed.Envelope), so a verifier never
// re-encodes anything: it checks the Ed25519 signature over those bytes, the
// chain through each envelope's "prev" (SHA-256 of the previous envelope),
// and the payload through "payload_sha256".
package record

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/jsonscan"
)

// Schema is the envelope schema version this package writes and reads.
const Schema = 1

// Kind is what happened.
type Kind string

const (
	Given        Kind = "given"         // a capture with at least one purpose granted
	Refused      Kind = "refused"       // a capture with every purpose refused
	Withdrawn    Kind = "withdrawn"     // a withdrawal of the listed purposes
	NoticeViewed Kind = "notice_viewed" // presa visione: the notice was shown
	Expired      Kind = "expired"       // retention elapsed
)

func (k Kind) Valid() bool {
	switch k {
	case Given, Refused, Withdrawn, NoticeViewed, Expired:
		return true
	}
	return false
}

// Controller is the titolare: who collects the consent.
type Controller struct {
	Name    string `json:"name"`
	Contact string `json:"contact"`
}

// NoticeRef pins the exact notice text shown.
type NoticeRef struct {
	ID       string `json:"id"`
	Version  int    `json:"version"`
	SHA256   string `json:"sha256"`
	ViewedAt string `json:"viewed_at,omitempty"` // device time the notice was shown
}

// Choice is the decision for one purpose.
type Choice struct {
	Purpose       string `json:"purpose"`
	DPV           string `json:"dpv"`
	Granted       bool   `json:"granted"`
	LegalBasis    string `json:"legal_basis"`
	RetentionDays int    `json:"retention_days"`
}

// Envelope is the signed, non-personal part of a record.
type Envelope struct {
	Schema          int           `json:"schema"`
	ID              string        `json:"id"` // UUIDv7 made on the device
	Kind            Kind          `json:"kind"`
	Collector       string        `json:"collector"`
	Epoch           string        `json:"epoch"` // random id of the device database; seq restarts only with a new epoch
	Seq             uint64        `json:"seq"`
	Prev            string        `json:"prev"`        // hex SHA-256 of the previous envelope ("" for the first)
	CapturedAt      string        `json:"captured_at"` // device clock, RFC 3339 with its offset
	HLC             hlc.Timestamp `json:"hlc"`
	Controller      Controller    `json:"controller"`
	Jurisdiction    string        `json:"jurisdiction"`
	Language        string        `json:"language"`
	Touchpoint      string        `json:"touchpoint"`
	Operator        string        `json:"operator,omitempty"`
	AppVersion      string        `json:"app_version"`
	Notice          NoticeRef     `json:"notice"`
	Purposes        []Choice      `json:"purposes,omitempty"`
	Ref             string        `json:"ref,omitempty"`      // the record this one belongs to
	Withdraw        string        `json:"withdraw,omitempty"` // where to withdraw: the receipt page base URL
	PayloadSHA256   string        `json:"payload_sha256,omitempty"`
	SignatureSHA256 string        `json:"signature_sha256,omitempty"` // of the handwritten signature PNG
	Sealed          []byte        `json:"sealed,omitempty"`           // the Payload sealed to the hub key
}

// Marshal returns the envelope's canonical bytes.
func (e *Envelope) Marshal() ([]byte, error) { return json.Marshal(e) }

// Time parses CapturedAt.
func (e *Envelope) Time() (time.Time, error) { return time.Parse(time.RFC3339Nano, e.CapturedAt) }

// The shapes Validate checks, written out by hand: they run for every
// record the hub receives (the regular expressions they replace, in the
// tests, say the same).

func lowerHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// isHex64 is ^[0-9a-f]{64}$.
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !lowerHex(s[i]) {
			return false
		}
	}
	return true
}

// isUUID is ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case i == 19:
			if c != '8' && c != '9' && c != 'a' && c != 'b' {
				return false
			}
		case !lowerHex(c):
			return false
		}
	}
	return true
}

// isCode is ^[a-z0-9][a-z0-9_.-]{0,63}$.
func isCode(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || i > 0 && (c == '_' || c == '.' || c == '-')
		if !ok {
			return false
		}
	}
	return true
}

// Validate checks the envelope's shape. It does not check signatures or
// catalog membership; those need keys and configuration.
func (e *Envelope) Validate() error {
	switch {
	case e.Schema != Schema:
		return fmt.Errorf("schema %d is not supported (want %d)", e.Schema, Schema)
	case !isUUID(e.ID):
		return fmt.Errorf("id %q is not a UUID", e.ID)
	case !e.Kind.Valid():
		return fmt.Errorf("kind %q is unknown", e.Kind)
	case e.Collector == "":
		return errors.New("collector is missing")
	case e.Epoch == "":
		return errors.New("epoch is missing")
	case e.Seq == 0:
		return errors.New("seq must start at 1")
	case e.Prev != "" && !isHex64(e.Prev):
		return errors.New("prev is not a hex SHA-256")
	case e.Touchpoint == "":
		return errors.New("touchpoint is missing")
	case e.PayloadSHA256 != "" && !isHex64(e.PayloadSHA256):
		return errors.New("payload_sha256 is not a hex SHA-256")
	case (e.PayloadSHA256 == "") != (len(e.Sealed) == 0):
		return errors.New("sealed payload and payload_sha256 must come together")
	case e.Notice.SHA256 != "" && !isHex64(e.Notice.SHA256):
		return errors.New("notice.sha256 is not a hex SHA-256")
	}
	if _, err := e.Time(); err != nil {
		return fmt.Errorf("captured_at %q is not an RFC 3339 time", e.CapturedAt)
	}
	if (e.Kind == Given || e.Kind == Refused || e.Kind == Withdrawn) && len(e.Purposes) == 0 {
		return fmt.Errorf("a %s record needs purposes", e.Kind)
	}
	seen := map[string]bool{}
	for _, c := range e.Purposes {
		if !isCode(c.Purpose) {
			return fmt.Errorf("purpose code %q is malformed", c.Purpose)
		}
		if seen[c.Purpose] {
			return fmt.Errorf("purpose %q appears twice", c.Purpose)
		}
		seen[c.Purpose] = true
	}
	return nil
}

// Signed is an envelope with the device's signature: what is stored and sent.
type Signed struct {
	Envelope json.RawMessage `json:"env"`
	Sig      []byte          `json:"sig"`
}

const sigContext = "attesta/record/v1\n"

func signedMessage(env []byte) []byte {
	return append([]byte(sigContext), env...)
}

// Sign encodes env and signs it with the device key.
func Sign(env *Envelope, key ed25519.PrivateKey) (Signed, error) {
	b, err := env.Marshal()
	if err != nil {
		return Signed{}, fmt.Errorf("encode envelope: %w", err)
	}
	return Signed{Envelope: b, Sig: ed25519.Sign(key, signedMessage(b))}, nil
}

// ErrSignature means the device signature does not match the envelope.
var ErrSignature = errors.New("device signature does not verify")

// Verify checks the device signature.
func (s Signed) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize || len(s.Sig) != ed25519.SignatureSize ||
		!ed25519.Verify(pub, signedMessage(s.Envelope), s.Sig) {
		return ErrSignature
	}
	return nil
}

// Hash is the SHA-256 of the envelope bytes: the chain link and the record's identity of content.
func (s Signed) Hash() [32]byte { return sha256.Sum256(s.Envelope) }

// HashHex is Hash in lowercase hex.
func (s Signed) HashHex() string { h := s.Hash(); return hex.EncodeToString(h[:]) }

// Decode parses and validates the envelope strictly: unknown, repeated or
// case-folded keys, trailing data and a malformed shape are all refused.
func (s Signed) Decode() (*Envelope, error) {
	e, ok := fastEnvelope(s.Envelope)
	if !ok {
		var err error
		if e, err = strictEnvelope(s.Envelope); err != nil {
			return nil, err
		}
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// The keys envelopes and payloads may hold, exactly: encoding/json would
// also take "Ref" for "ref", and the last of a repeated key, where SQLite's
// json_extract (which the hub's queries use on stored envelopes), jq and a
// person take the first exact match.
var (
	envelopeKeys = jsonscan.KeysOf[Envelope]()
	payloadKeys  = jsonscan.KeysOf[Payload]()
)

// strictEnvelope is encoding/json's reading of an envelope, the reference
// fastEnvelope agrees with, refusing what encoding/json would read
// differently from other readers.
func strictEnvelope(b []byte) (*Envelope, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var e Envelope
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("malformed envelope: %w", err)
	}
	// More would stop at a stray "}" or "]", which SQLite's JSON functions
	// call malformed.
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("malformed envelope: trailing data")
	}
	if err := jsonscan.CheckKeys(b, envelopeKeys); err != nil {
		return nil, fmt.Errorf("malformed envelope: %w", err)
	}
	return &e, nil
}

// Subject is the person as captured.
type Subject struct {
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	Email      string `json:"email"`
	Phone      string `json:"phone,omitempty"`
}

// Point is one sample of a handwritten signature, in CSS pixels of the
// canvas, with milliseconds since the stroke began and pen pressure (0–1).
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	T int64   `json:"t"`
	P float64 `json:"p,omitempty"`
}

// Handwriting is a handwritten signature: the vector strokes as drawn and a
// PNG rendering of them.
type Handwriting struct {
	PNG    []byte    `json:"png"`
	Points [][]Point `json:"points"` // one slice per stroke
}

// Payload is the personal part of a record, sealed at capture.
type Payload struct {
	Subject   Subject      `json:"subject"`
	Signature *Handwriting `json:"signature,omitempty"`
	Receipt   string       `json:"receipt,omitempty"` // the secret token of the visitor's receipt page
	Salt      []byte       `json:"salt"`              // keeps payload_sha256 from being guessed from a known email
}

// PayloadHash is the SHA-256 of the payload bytes in hex.
func PayloadHash(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// SHA256Hex is a convenience for content hashes.
func SHA256Hex(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// DecodePayload parses an opened payload strictly.
func DecodePayload(b []byte) (*Payload, error) {
	if p, ok := fastPayload(b); ok {
		return p, nil
	}
	return strictPayload(b)
}

// strictPayload is encoding/json's reading of a payload, the reference
// fastPayload agrees with, refusing what encoding/json would read
// differently from other readers.
func strictPayload(b []byte) (*Payload, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Payload
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("malformed payload: %w", err)
	}
	if err := jsonscan.CheckKeys(b, payloadKeys); err != nil {
		return nil, fmt.Errorf("malformed payload: %w", err)
	}
	return &p, nil
}

// PublicKeyString encodes a device public key.
func PublicKeyString(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// ParsePublicKey reads PublicKeyString's form.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("malformed ed25519 public key")
	}
	return ed25519.PublicKey(b), nil
}
