package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
)

func TestPublishNotice(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	before, _ := e.st.Catalog(ctx)
	last, _ := e.st.Notifications(ctx, 0, 1000)

	next, err := e.st.PublishNotice(ctx, catalog.Notice{ID: "privacy-it", Version: 2, Language: "it", Title: "Informativa", Text: "# v2\n"})
	if err != nil {
		t.Fatal(err)
	}
	if next.Seq != before.Seq+1 || !next.IsActive("privacy-it", 2) {
		t.Fatalf("seq %d (before %d), active %v", next.Seq, before.Seq, next.Active())
	}
	cur, _ := e.st.Catalog(ctx)
	if cur.Seq != next.Seq || !cur.IsActive("privacy-it", 2) {
		t.Fatalf("Catalog after publish: seq %d", cur.Seq)
	}
	// The old version stays, with its text.
	old, err := e.st.Notice(ctx, "privacy-it", 1)
	if err != nil || old.SHA256 != catalog.Hash(old.Text) || old.Text == "" {
		t.Fatalf("old version: %+v %v", old, err)
	}
	n2, err := e.st.Notice(ctx, "privacy-it", 2)
	if err != nil || n2.Text != "# v2\n" || n2.SHA256 != catalog.Hash("# v2\n") {
		t.Fatalf("new version: %+v %v", n2, err)
	}
	vs, err := e.st.NoticeVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.ID+"/"+string(rune('0'+v.Version))+map[bool]string{true: "*"}[v.Active])
	}
	if strings.Join(got, " ") != "privacy-en/1* privacy-it/1 privacy-it/2*" {
		t.Errorf("versions %v", got)
	}

	// One config.changed notification, naming the version and no one.
	ns, _ := e.st.Notifications(ctx, int64(len(last)), 1000)
	var changes []hub.ConfigChange
	for _, n := range ns {
		if n.Type == hub.NotifyConfigChanged {
			var c hub.ConfigChange
			json.Unmarshal(n.Data, &c)
			changes = append(changes, c)
		}
	}
	if len(changes) != 1 || changes[0] != (hub.ConfigChange{Seq: next.Seq, Change: "notice.published", Notice: "privacy-it/2"}) {
		t.Errorf("notifications %+v", changes)
	}

	// Refused: not newer, and nothing is appended.
	_, err = e.st.PublishNotice(ctx, catalog.Notice{ID: "privacy-it", Version: 2, Language: "it", Title: "x", Text: "other"})
	var fe *catalog.FieldError
	if !errors.As(err, &fe) || fe.Field != "version" || apperr.Code(err) != apperr.EINVALID {
		t.Errorf("republish: %v", err)
	}
	if c, _ := e.st.Catalog(ctx); c.Seq != next.Seq {
		t.Errorf("a refused publish moved the log to %d", c.Seq)
	}
}

// Concurrent publishers of the same version: exactly one wins.
func TestPublishNoticeRace(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.st.PublishNotice(ctx, catalog.Notice{ID: "privacy-en", Version: 2, Language: "en", Title: "P", Text: "v2 " + string(rune('a'+i))})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if apperr.Code(err) != apperr.EINVALID && apperr.Code(err) != apperr.ECONFLICT {
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d publishers won", ok)
	}
}

func TestPutPurposeAndTouchpoint(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	p := catalog.Purpose{Code: "events", DPV: "dpv:DirectMarketing", Category: "marketing", LegalBasis: "dpv:Consent", RetentionDays: 365,
		Text: map[string]catalog.Text{"it": {Title: "Eventi"}, "en": {Title: "Events"}}}
	if _, err := e.st.PutPurpose(ctx, p, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.PutPurpose(ctx, p, true); apperr.Code(err) != apperr.ECONFLICT {
		t.Errorf("add twice: %v", err)
	}
	p.RetentionDays = 5000
	if _, err := e.st.PutPurpose(ctx, p, false); err == nil || !strings.HasPrefix(apperr.Message(err), "retention_days: ") {
		t.Errorf("retention out of range: %v", err)
	}
	tp := catalog.Touchpoint{ID: "store-napoli", Name: "Store Napoli", Kind: catalog.Collect, Country: "IT", Language: "it"}
	c, err := e.st.PutTouchpoint(ctx, tp, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Purpose("events"); !ok {
		t.Error("the touchpoint change lost the purpose")
	}
	// An edit changes only what it touches, inside the transaction.
	c, err = e.st.EditPurpose(ctx, "events", func(p *catalog.Purpose) error { p.RetentionDays = 100; return nil })
	if got, _ := c.Purpose("events"); err != nil || got.RetentionDays != 100 || got.Text["it"].Title != "Eventi" || got.DPV != p.DPV {
		t.Fatalf("edit purpose: %+v %v", got, err)
	}
	if _, err := e.st.EditPurpose(ctx, "nope", func(*catalog.Purpose) error { return nil }); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("edit an unknown purpose: %v", err)
	}
	c, err = e.st.EditTouchpoint(ctx, "store-napoli", func(t *catalog.Touchpoint) error { t.Location = "Via Toledo 1"; return nil })
	if got, _ := c.Touchpoint("store-napoli"); err != nil || got.Location != "Via Toledo 1" || got.Name != "Store Napoli" {
		t.Fatalf("edit touchpoint: %+v %v", got, err)
	}
	// A collector can enroll at the new touchpoint.
	if _, err := e.st.CreateEnrollment(ctx, "Napoli 1", "store-napoli", 3600e9); err != nil {
		t.Fatal(err)
	}
}

func TestDeviceConfigCurrent(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	cat, _ := e.st.Catalog(ctx)
	if err := e.st.AckConfig(ctx, e.dev.ID, cat.Seq); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.st.Device(ctx, e.dev.ID); !d.ConfigCurrent || d.ConfigSeq != cat.Seq {
		t.Fatalf("after ack: %d current %v", d.ConfigSeq, d.ConfigCurrent)
	}
	next, err := e.st.PublishNotice(ctx, catalog.Notice{ID: "privacy-en", Version: 2, Language: "en", Title: "P", Text: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if ds, _ := e.st.Devices(ctx); ds[0].ConfigCurrent {
		t.Fatal("current before the device applied the new config")
	}
	e.st.AckConfig(ctx, e.dev.ID, next.Seq+5) // a seq the hub never published is not recorded
	if d, _ := e.st.Device(ctx, e.dev.ID); d.ConfigSeq != cat.Seq {
		t.Fatalf("recorded an unknown seq: %d", d.ConfigSeq)
	}
	if d, _ := e.st.Device(ctx, e.dev.ID); strings.Join(d.Notices, " ") != "privacy-en/1 privacy-it/1" {
		t.Fatalf("notices before the ack: %v", d.Notices)
	}
	e.st.AckConfig(ctx, e.dev.ID, next.Seq)
	ds, _ := e.st.Devices(ctx)
	if !ds[0].ConfigCurrent || strings.Join(ds[0].Notices, " ") != "privacy-en/2 privacy-it/1" {
		t.Fatalf("after the ack: current %v notices %v", ds[0].ConfigCurrent, ds[0].Notices)
	}
}
