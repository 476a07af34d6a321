package record

import (
	"crypto/ed25519"
	"errors"
)

const counterContext = "attesta/countersign/v1\n"

func counterMessage(envHash, receivedAt string) []byte {
	return []byte(counterContext + envHash + "\n" + receivedAt)
}

// Countersign is the hub's signature over (envelope hash, received_at): proof
// that the hub held this exact envelope at that time.
func Countersign(key ed25519.PrivateKey, envHash, receivedAt string) []byte {
	return ed25519.Sign(key, counterMessage(envHash, receivedAt))
}

// ErrCountersignature means the hub's countersignature does not verify.
var ErrCountersignature = errors.New("hub countersignature does not verify")

// VerifyCountersign checks a Countersign signature.
func VerifyCountersign(pub ed25519.PublicKey, envHash, receivedAt string, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, counterMessage(envHash, receivedAt), sig) {
		return ErrCountersignature
	}
	return nil
}
