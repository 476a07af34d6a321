package hub

import (
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/record"
)

// Record flags.
const (
	FlagClockSuspect = "clock_suspect" // the device clock was off by more than the bound
	FlagFork         = "fork"          // another record holds the same (collector, epoch, seq)
	FlagGap          = "gap"           // the previous seq of this epoch has not arrived
	FlagChainBreak   = "chain_break"   // prev does not match the hub's previous record
)

// Verifier checks records from one authenticated device session. It is a
// pure rule: crypto and arithmetic, no I/O; Verify may run on many
// goroutines at once.
type Verifier struct {
	Device    *Device
	Keys      *Keys
	OffsetMS  int64         // device clock minus hub clock, measured at hello
	SkewBound time.Duration // beyond this the record is flagged clock_suspect
	Now       func() time.Time
}

// Verify checks a record's envelope, signature and sealed payload and
// computes its times. A record that fails comes back with Reject set, never
// as an error: a bad record is quarantined and the batch goes on.
func (v *Verifier) Verify(s record.Signed) Incoming {
	in := Incoming{Signed: s, Hash: s.HashHex(), ReceivedAt: v.Now().UTC(), OffsetMS: v.OffsetMS}
	reject := func(code, format string, args ...any) Incoming {
		in.Reject = &Rejection{Code: code, Reason: fmt.Sprintf(format, args...)}
		if in.Env != nil && len(in.Env.Sealed) > 0 {
			in.Subject = v.named(in.Env.Sealed)
		}
		return in
	}
	env, err := s.Decode()
	if err != nil {
		return reject(apperr.EINVALID, "%v", err)
	}
	in.Env = env
	if subtle.ConstantTimeCompare([]byte(env.Collector), []byte(v.Device.ID)) != 1 {
		return reject(apperr.EFORBIDDEN, "record claims collector %q but was sent by %q", env.Collector, v.Device.ID)
	}
	if err := s.Verify(v.Device.SignKey); err != nil {
		return reject(apperr.EINVALID, "device signature does not verify")
	}
	if len(env.Sealed) > 0 {
		payload, err := v.Keys.Opener.Open(env.Sealed)
		if err != nil {
			return reject(apperr.EINVALID, "sealed payload cannot be opened with the hub key")
		}
		if record.PayloadHash(payload) != env.PayloadSHA256 {
			return reject(apperr.EINVALID, "sealed payload does not match payload_sha256")
		}
		p, err := record.DecodePayload(payload)
		if err != nil {
			return reject(apperr.EINVALID, "%v", err)
		}
		if env.SignatureSHA256 != "" && (p.Signature == nil || record.SHA256Hex(p.Signature.PNG) != env.SignatureSHA256) {
			return reject(apperr.EINVALID, "signature image does not match signature_sha256")
		}
		in.Payload, in.Subject = payload, &p.Subject
		if p.Receipt != "" {
			in.ReceiptHash = record.SHA256Hex([]byte(p.Receipt))
		}
	}
	captured, _ := env.Time() // Validate checked it
	in.CorrectedAt, in.Flags = Correct(captured, in.ReceivedAt, v.OffsetMS, v.SkewBound)
	in.Countersig = record.Countersign(v.Keys.SignPriv, in.Hash, FormatTime(in.ReceivedAt))
	return in
}

// Correct maps a device time to hub time using the offset measured at hello
// and flags it when the device clock was off by more than bound, or when the
// corrected time lies in the future.
func Correct(captured, received time.Time, offsetMS int64, bound time.Duration) (time.Time, []string) {
	corrected := captured.Add(-time.Duration(offsetMS) * time.Millisecond).UTC()
	var flags []string
	off := time.Duration(offsetMS) * time.Millisecond
	if off > bound || off < -bound || corrected.Sub(received) > bound {
		flags = append(flags, FlagClockSuspect)
	}
	return corrected, flags
}

// TimeFormat is how the hub writes times: RFC 3339, UTC, fixed nanoseconds,
// so text order is time order.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// FormatTime formats t in TimeFormat.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// named returns the person a sealed payload names, if the hub can open and
// decode it, else nil. For a rejected record this is unverified, and used
// only so the store keeps no personal data of an erased person, not even
// as evidence.
func (v *Verifier) named(sealed []byte) *record.Subject {
	payload, err := v.Keys.Opener.Open(sealed)
	if err != nil {
		return nil
	}
	p, err := record.DecodePayload(payload)
	if err != nil {
		return nil
	}
	return &p.Subject
}
