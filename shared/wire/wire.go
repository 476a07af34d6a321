// Package wire defines the versioned frames collectors and the hub exchange
// over the sync websocket, one JSON object per websocket text message.
//
//	collector                         hub
//	  HTTP upgrade, Authorization: Bearer <device token>
//	  hello  ───────────────────────▶   (measures clock offset)
//	         ◀───────────────────────  welcome (committed position per epoch)
//	         ◀───────────────────────  config  (when the collector is behind: after
//	                                             welcome, and whenever the log moves on)
//	  config_ack ───────────────────▶
//	  push (batch n) ───────────────▶
//	  push (batch n+1) ─────────────▶   (a small window in flight)
//	         ◀───────────────────────  ack n   (only after the hub's commit)
//	         ◀───────────────────────  error   (then the hub closes)
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/jsonscan"
	"github.com/attesta/attesta/shared/record"
)

// Version is the protocol version this package speaks.
const Version = 1

// Frame types.
const (
	THello     = "hello"
	TWelcome   = "welcome"
	TPush      = "push"
	TAck       = "ack"
	TConfig    = "config"
	TConfigAck = "config_ack"
	TError     = "error"
)

// Frame is one message. Exactly one body field is set, matching Type.
type Frame struct {
	V         int        `json:"v"`
	Type      string     `json:"type"`
	Hello     *Hello     `json:"hello,omitempty"`
	Welcome   *Welcome   `json:"welcome,omitempty"`
	Push      *Push      `json:"push,omitempty"`
	Ack       *Ack       `json:"ack,omitempty"`
	Config    *Config    `json:"config,omitempty"`
	ConfigAck *ConfigAck `json:"config_ack,omitempty"`
	Error     *Error     `json:"error,omitempty"`
}

// Stream is the collector's view of one epoch of its outbox.
type Stream struct {
	Epoch    string `json:"epoch"`
	Head     uint64 `json:"head"`      // highest seq written
	HeadHash string `json:"head_hash"` // hash of the envelope at Head
	Acked    uint64 `json:"acked"`     // highest seq the collector holds an ack for
}

// Hello opens a session.
type Hello struct {
	Collector  string        `json:"collector"`
	DeviceTime string        `json:"device_time"` // RFC 3339, the device clock when sent
	HLC        hlc.Timestamp `json:"hlc"`
	Streams    []Stream      `json:"streams"`
	Pending    int64         `json:"pending"`
	ConfigSeq  int64         `json:"config_seq"`
	AppVersion string        `json:"app_version"`
}

// Position is how far the hub has committed one epoch of a collector.
type Position struct {
	Epoch   string `json:"epoch"`
	Through uint64 `json:"through"` // every seq up to here is committed (accepted or quarantined)
	Hash    string `json:"hash"`    // envelope hash the hub holds at Through ("" if none)
}

// Welcome answers Hello.
type Welcome struct {
	HubTime       string        `json:"hub_time"`
	HLC           hlc.Timestamp `json:"hlc"`
	ClockOffsetMS int64         `json:"clock_offset_ms"` // device minus hub, as measured at hello
	Positions     []Position    `json:"positions"`
	ConfigSeq     int64         `json:"config_seq"`
	MaxBatch      int           `json:"max_batch"`            // records per push
	MaxBatchBytes int           `json:"max_batch_bytes"`      // encoded bytes per push
	Window        int           `json:"window"`               // pushes in flight
	PublicURL     string        `json:"public_url,omitempty"` // the hub's public base URL when set, so a change reaches kiosks without a new config
}

// Push carries a batch of records, in seq order within each epoch.
type Push struct {
	Batch   uint64          `json:"batch"`
	Records []record.Signed `json:"records"`
}

// Rejection tells the collector a record was quarantined rather than accepted.
type Rejection struct {
	Epoch  string `json:"epoch"`
	Seq    uint64 `json:"seq"`
	ID     string `json:"id,omitempty"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Ack is sent once a push is committed. Every record in the batch is then
// durable at the hub: accepted, a known duplicate, kept as conflict
// evidence, or quarantined (listed in Rejected).
type Ack struct {
	Batch      uint64      `json:"batch"`
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected,omitempty"`
}

// Config sends a catalog snapshot down.
type Config struct {
	Catalog catalog.Catalog `json:"catalog"`
}

// ConfigAck confirms the collector applied a config.
type ConfigAck struct {
	Seq int64 `json:"seq"`
}

// Error ends a session with a reason.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Encode marshals a frame, filling in the version.
func Encode(f *Frame) ([]byte, error) {
	f.V = Version
	if b, ok := encodePushFast(f); ok {
		return b, nil
	}
	return json.Marshal(f)
}

// Decode parses a frame strictly: right version, known type, the matching
// body and no other.
func Decode(b []byte) (*Frame, error) {
	f, ok := decodePushFast(b)
	if !ok {
		var err error
		if f, err = decodeStrict(b); err != nil {
			return nil, err
		}
	}
	if err := check(f); err != nil {
		return nil, err
	}
	return f, nil
}

// check holds a decoded frame to the protocol: right version, known type,
// the matching body and no other.
func check(f *Frame) error {
	if f.V != Version {
		return fmt.Errorf("protocol version %d is not supported (want %d)", f.V, Version)
	}
	bodies := map[string]bool{
		THello: f.Hello != nil, TWelcome: f.Welcome != nil, TPush: f.Push != nil, TAck: f.Ack != nil,
		TConfig: f.Config != nil, TConfigAck: f.ConfigAck != nil, TError: f.Error != nil,
	}
	has, known := bodies[f.Type]
	if !known {
		return fmt.Errorf("unknown frame type %q", f.Type)
	}
	if !has {
		return fmt.Errorf("%s frame without its body", f.Type)
	}
	n := 0
	for _, set := range bodies {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("%s frame with extra bodies", f.Type)
	}
	return nil
}

// frameKeys are the keys frames may hold, exactly: encoding/json would also
// take "Push" for "push", and the last of a repeated key.
var frameKeys = jsonscan.KeysOf[Frame]()

// decodeStrict is encoding/json's reading of a frame, the reference
// decodePushFast agrees with, refusing what encoding/json would read
// differently from other readers.
func decodeStrict(b []byte) (*Frame, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f Frame
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("malformed frame: %w", err)
	}
	// More would stop at a stray "}" or "]".
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("malformed frame: trailing data")
	}
	if err := jsonscan.CheckKeys(b, frameKeys); err != nil {
		return nil, fmt.Errorf("malformed frame: %w", err)
	}
	return &f, nil
}
