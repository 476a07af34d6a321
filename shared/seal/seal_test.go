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

func TestOpenerMatchesOpen(t *testing.T) {
	pub, priv, _ := seal.GenerateKey()
	o, err := seal.NewOpener(pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 600, 5000} {
		msg := bytes.Repeat([]byte{'x'}, n)
		box, _ := seal.Seal(pub, msg)
		got, err := o.Open(box)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: %v", n, err)
		}
		box[len(box)-1] ^= 1
		if _, err := o.Open(box); err == nil {
			t.Fatal("altered box opened")
		}
	}
	if _, err := o.Open([]byte("short")); err == nil {
		t.Fatal("short box opened")
	}
	otherPub, _, _ := seal.GenerateKey()
	if _, err := seal.NewOpener(otherPub, priv); err == nil {
		t.Fatal("mismatched key pair accepted")
	}
}

func BenchmarkOpen(b *testing.B) {
	pub, priv, _ := seal.GenerateKey()
	box, _ := seal.Seal(pub, bytes.Repeat([]byte{'x'}, 600))
	b.Run("nacl", func(b *testing.B) {
		for b.Loop() {
			seal.Open(pub, priv, box)
		}
	})
	b.Run("opener", func(b *testing.B) {
		o, _ := seal.NewOpener(pub, priv)
		for b.Loop() {
			o.Open(box)
		}
	})
}

func FuzzOpen(f *testing.F) {
	pub, priv, _ := seal.GenerateKey()
	o, _ := seal.NewOpener(pub, priv)
	good, _ := seal.Seal(pub, []byte("hello"))
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, errA := o.Open(b)
		c, errC := seal.Open(pub, priv, b)
		if (errA == nil) != (errC == nil) || !bytes.Equal(a, c) {
			t.Fatalf("opener and nacl disagree: %v %v", errA, errC)
		}
	})
}
