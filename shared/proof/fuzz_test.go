package proof_test

import (
	"bytes"
	"testing"

	"github.com/attesta/attesta/shared/proof"
)

// FuzzVerify feeds the zip reader and verifier arbitrary bytes, seeded with
// a valid bundle and tampered ones. It must never panic, every report must
// say what failed, and nothing but the valid bundle itself may verify:
// everything in a bundle is bound to the signed manifest, and the container
// must be the canonical encoding of its files.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.zip)
	for _, edit := range []struct{ file string }{{"record/payload.json"}, {"manifest.json"}, {"record/envelope.json"}, {"chain/0000000003/envelope.json"}} {
		z, err := proof.Rewrite(fx.zip, func(names []string, files map[string][]byte) []string {
			files[edit.file] = middle(files[edit.file])
			return names
		})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(z)
	}
	f.Add(flip(len(fx.zip) / 3)(fx.zip))
	f.Add(fx.zip[:len(fx.zip)/2])
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rep := proof.Verify(b)
		if rep.Valid {
			if !bytes.Equal(b, fx.zip) {
				t.Fatalf("a bundle other than the valid one verified (%d bytes)", len(b))
			}
			return
		}
		said := false
		for _, c := range rep.Checks {
			said = said || (c.Status == "FAIL" && c.Detail != "")
		}
		if !said {
			t.Fatalf("invalid without a failed check that says why: %v", rep.Checks)
		}
	})
}
