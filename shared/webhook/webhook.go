// Package webhook signs and verifies Attesta webhook deliveries. The hub
// signs each delivery with the webhook's secret; a receiver (a CRM
// integration) calls Verify before trusting a body.
//
// The signature header reads
//
//	Attesta-Signature: t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//
// where v1 is the hex HMAC-SHA256, keyed with the secret, of the decimal
// timestamp, a dot and the raw body. Binding the timestamp lets a receiver
// refuse a captured delivery replayed later; the event id in the body (and
// the Attesta-Event-Id header) is the idempotency key for deliveries the hub
// repeats after a crash. A header may carry several v1 values while a secret
// is being rotated; any one matching is enough.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	SignatureHeader = "Attesta-Signature"
	EventIDHeader   = "Attesta-Event-Id"
	EventTypeHeader = "Attesta-Event-Type"
	WebhookIDHeader = "Attesta-Webhook-Id"
)

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock; the hub signs each attempt afresh, so a retry is never
// older than this.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns; receivers answer all of them with 400 (a 4xx other
// than 408/429 pauses the webhook at the hub, see the README).
var (
	ErrMalformed = errors.New("webhook: malformed signature header")
	ErrTooOld    = errors.New("webhook: timestamp outside the tolerance")
	ErrMismatch  = errors.New("webhook: no signature matches")
)

// maxHeader bounds the header a receiver parses.
const maxHeader = 4096

// Sign returns the signature header value for body at t.
func Sign(secret string, t time.Time, body []byte) string { return SignAll(t, body, secret) }

// SignAll returns a header with one v1 signature per secret: while a
// secret is being rotated the hub signs with the new and the old one, so
// receivers switch over whenever they like.
func SignAll(t time.Time, body []byte, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	h := "t=" + ts
	for _, s := range secrets {
		h += ",v1=" + hex.EncodeToString(mac(s, ts, body))
	}
	return h
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Header is a parsed signature header.
type Header struct {
	Timestamp  int64
	Signatures [][]byte // every v1 value, decoded
}

// ParseHeader parses a signature header. Unknown keys (a later scheme) are
// ignored; a header without t or without any v1 is malformed.
func ParseHeader(h string) (Header, error) {
	var out Header
	if len(h) > maxHeader {
		return out, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxHeader)
	}
	var haveT bool
	for part := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Header{}, fmt.Errorf("%w: %q is not key=value", ErrMalformed, part)
		}
		switch k {
		case "t":
			if haveT {
				return Header{}, fmt.Errorf("%w: two timestamps", ErrMalformed)
			}
			ts, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ts < 0 {
				return Header{}, fmt.Errorf("%w: timestamp %q is not a Unix time", ErrMalformed, v)
			}
			out.Timestamp, haveT = ts, true
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return Header{}, fmt.Errorf("%w: v1 is not a hex HMAC-SHA256", ErrMalformed)
			}
			out.Signatures = append(out.Signatures, sig)
		}
	}
	if !haveT || len(out.Signatures) == 0 {
		return Header{}, fmt.Errorf("%w: needs t= and v1=", ErrMalformed)
	}
	return out, nil
}

// Verify checks a delivery: header is the Attesta-Signature value, body the
// raw request body, tolerance how far the timestamp may be from now
// (DefaultTolerance when zero). It returns nil only when a signature made
// with secret over the timestamp and body matches and the timestamp is
// within the tolerance.
func Verify(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	h, err := ParseHeader(header)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if d := now.Sub(time.Unix(h.Timestamp, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed %s from now", ErrTooOld, d.Round(time.Second))
	}
	want := mac(secret, strconv.FormatInt(h.Timestamp, 10), body)
	for _, sig := range h.Signatures {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrMismatch
}
