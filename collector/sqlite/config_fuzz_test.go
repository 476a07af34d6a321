package sqlite_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/attesta/attesta/collector/sqlite"
	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/wire"
)

// FuzzConfigFrame is the collector's side of a config frame, as the sync
// client handles it: decode the frame, apply its catalog to the outbox.
// Nothing panics; a catalog is either refused as invalid (and the applied
// one stays) or applied whole, and then reads back as sent.
func FuzzConfigFrame(f *testing.F) {
	fx, err := fixtures.Catalog()
	if err != nil {
		f.Fatal(err)
	}
	next, _ := fx.AddNotice(catalog.Notice{ID: "privacy-it", Version: 2, Language: "it", Title: "Informativa", Text: "v2"})
	for i, c := range []*catalog.Catalog{fx, next} {
		c.Seq = int64(i + 2)
		b, _ := wire.Encode(&wire.Frame{Type: wire.TConfig, Config: &wire.Config{Catalog: *c}})
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"type":"config","config":{"catalog":{"seq":9,"controller":{"name":"A"},"notices":[{"id":"n","version":1,"language":"en","title":"t","text":"x","sha256":"00"}]}}}`))
	ctx := context.Background()
	o, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "collector.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { o.Close() })
	base := fx.Clone()
	base.Seq = 1
	if err := o.ApplyCatalog(ctx, base); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := wire.Decode(b)
		if err != nil || fr.Type != wire.TConfig {
			return
		}
		sent := fr.Config.Catalog
		err = o.ApplyCatalog(ctx, &sent)
		got, rerr := o.Catalog(ctx)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if err != nil {
			if apperr.Code(err) != apperr.EINVALID {
				t.Fatalf("refusal is not EINVALID: %v", err)
			}
			if got.Seq != 1 {
				t.Fatalf("a refused config changed the applied one to seq %d", got.Seq)
			}
			return
		}
		if sent.Seq >= 1 {
			a, _ := json.Marshal(sent)
			z, _ := json.Marshal(got)
			if string(a) != string(z) {
				t.Fatalf("applied config reads back different:\n%s\n%s", a, z)
			}
		}
		// Back to the known state (the fixtures at seq 1) for the next input.
		if _, err := o.DB().W.ExecContext(ctx, `DELETE FROM config`); err != nil {
			t.Fatal(err)
		}
		if err := o.ApplyCatalog(ctx, base); err != nil {
			t.Fatal(err)
		}
	})
}
