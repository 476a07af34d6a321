// Package seal seals personal data to the hub's X25519 public key with an
// anonymous sealed box (NaCl crypto_box_seal): the device that seals cannot
// open what it sealed, so a stolen kiosk discloses nothing.
package seal

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/box"
)

// Overhead is the number of bytes a sealed box adds to its message.
const Overhead = box.AnonymousOverhead

// PublicKey is an X25519 public key.
type PublicKey [32]byte

// PrivateKey is an X25519 private key.
type PrivateKey [32]byte

// GenerateKey makes a new key pair.
func GenerateKey() (*PublicKey, *PrivateKey, error) {
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate x25519 key: %w", err)
	}
	return (*PublicKey)(pub), (*PrivateKey)(priv), nil
}

// Seal encrypts msg so that only the holder of pub's private key can read it.
func Seal(pub *PublicKey, msg []byte) ([]byte, error) {
	out, err := box.SealAnonymous(nil, msg, (*[32]byte)(pub), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return out, nil
}

// ErrOpen means a sealed box could not be opened: not sealed to this key, or altered.
var ErrOpen = errors.New("sealed box cannot be opened with the hub key")

// Open decrypts a box made by Seal.
func Open(pub *PublicKey, priv *PrivateKey, sealed []byte) ([]byte, error) {
	out, ok := box.OpenAnonymous(nil, sealed, (*[32]byte)(pub), (*[32]byte)(priv))
	if !ok {
		return nil, ErrOpen
	}
	return out, nil
}

func (k PublicKey) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// ParsePublicKey reads the String form.
func ParsePublicKey(s string) (*PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, errors.New("malformed x25519 public key")
	}
	return (*PublicKey)(b), nil
}
