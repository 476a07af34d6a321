package catalog_test

import (
	"encoding/json"
	"testing"

	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/shared/catalog"
)

// FuzzDecode feeds the collector's view of a config frame's catalog: it must
// never panic, and whatever it accepts keeps the rules kiosks rely on (one
// active version per notice id, the newest; a deep copy equal to it).
func FuzzDecode(f *testing.F) {
	fx, err := fixtures.Catalog()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range []*catalog.Catalog{fx, sample()} {
		b, _ := json.Marshal(c)
		f.Add(b)
	}
	f.Add([]byte(`{"controller":{"name":"A"},"notices":[{"id":"a","version":1,"language":"en","title":"t","text":"x","sha256":"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}]}`))
	f.Add([]byte(`{"controller":{"name":"A"},"purposes":[{"code":"p","dpv":"d","retention_days":1,"text":{"en":{"title":"t"}}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := catalog.Decode(b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, n := range c.Active() {
			if seen[n.ID] {
				t.Fatalf("two active versions of %s", n.ID)
			}
			seen[n.ID] = true
			if last, _ := c.Latest(n.ID); last.Version != n.Version || !c.IsActive(n.ID, n.Version) {
				t.Fatalf("active %s/%d is not the latest", n.ID, n.Version)
			}
		}
		cc := c.Clone()
		if err := cc.Follows(c); err != nil {
			t.Fatalf("a copy cannot follow its original: %v", err)
		}
		a, _ := json.Marshal(c)
		z, _ := json.Marshal(cc)
		if string(a) != string(z) {
			t.Fatal("clone differs")
		}
	})
}
