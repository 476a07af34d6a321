package seal

import (
	"crypto/ecdh"
	"errors"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
	//lint:ignore SA1019 HSalsa20 derives the box key exactly as nacl/box does; no AEAD replaces it here.
	"golang.org/x/crypto/salsa20/salsa"
)

// Opener opens many sealed boxes with one key pair. It does the same as
// Open with half the curve arithmetic: the private key is parsed once, so
// each box costs one X25519 multiplication instead of two.
type Opener struct {
	pub  PublicKey
	priv *ecdh.PrivateKey
}

// NewOpener prepares pub and priv for opening.
func NewOpener(pub *PublicKey, priv *PrivateKey) (*Opener, error) {
	k, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		return nil, err
	}
	if [32]byte(k.PublicKey().Bytes()) != *pub {
		return nil, errors.New("x25519 public key does not belong to the private key")
	}
	return &Opener{pub: *pub, priv: k}, nil
}

var zeros [16]byte

// Open decrypts a box made by Seal (NaCl crypto_box_seal).
func (o *Opener) Open(sealed []byte) ([]byte, error) {
	if len(sealed) < box.AnonymousOverhead {
		return nil, ErrOpen
	}
	eph := sealed[:32]
	peer, err := ecdh.X25519().NewPublicKey(eph)
	if err != nil {
		return nil, ErrOpen
	}
	shared, err := o.priv.ECDH(peer)
	if err != nil {
		return nil, ErrOpen
	}
	// box.Precompute: the key is HSalsa20 of the shared point with a zero nonce.
	var key [32]byte
	salsa.HSalsa20(&key, &zeros, (*[32]byte)(shared), &salsa.Sigma)
	// crypto_box_seal's nonce: BLAKE2b-192(ephemeral public key || recipient public key).
	h, _ := blake2b.New(24, nil)
	h.Write(eph)
	h.Write(o.pub[:])
	var nonce [24]byte
	copy(nonce[:], h.Sum(nil))
	out, ok := secretbox.Open(nil, sealed[32:], &nonce, &key)
	if !ok {
		return nil, ErrOpen
	}
	return out, nil
}
