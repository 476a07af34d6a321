package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/attesta/attesta/shared/seal"
)

func TestSealOpen(t *testing.T) {
	pub, priv, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"email":"anna@example.com"}`)
	box, err := seal.Seal(pub, msg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(box, []byte("anna")) || len(box) != len(msg)+seal.Overhead {
		t.Fatal("sealed box leaks or has the wrong size")
	}
	got, err := seal.Open(pub, priv, box)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("open: %q %v", got, err)
	}
	box[len(box)-1] ^= 1
	if _, err := seal.Open(pub, priv, box); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("altered box opened: %v", err)
	}
	otherPub, otherPriv, _ := seal.GenerateKey()
	box2, _ := seal.Seal(otherPub, msg)
	if _, err := seal.Open(pub, priv, box2); err == nil {
		t.Fatal("box for another key opened")
	}
	_ = otherPriv
}

func TestParsePublicKey(t *testing.T) {
	pub, _, _ := seal.GenerateKey()
	back, err := seal.ParsePublicKey(pub.String())
	if err != nil || *back != *pub {
		t.Fatal(err)
	}
	if _, err := seal.ParsePublicKey("AAAA"); err == nil {
		t.Fatal("short key accepted")
	}
}
