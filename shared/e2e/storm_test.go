package e2e

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/wire"
)

// A kiosk reconnecting into a storm is welcomed while the hub's one SQLite
// writer is busy with everybody else's batches: the welcome comes from
// committed state, and the hello is recorded once the writer is free. The
// test holds the hub database's write lock itself, as a long queue of
// ingest transactions would, and releases it only after the welcome.
func TestWelcomeWhileTheWriterIsBusy(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	dev := EnrollFake(t, h.URL(), h.EnrollCode("Storm"))
	first := dev.Session(h.URL()) // a stream the hub knows, to be resumed
	ack := first.Push(dev.Next(), dev.Next())
	if ack.Accepted != 2 {
		t.Fatalf("ack %+v", ack)
	}
	first.Conn.Close()
	h.Device(dev.ID) // the API token is made now: making it needs the writer too

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(h.Dir, "hub.db")+"?_txlock=immediate&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	busy, err := db.Begin() // the write lock, until Rollback
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Rollback()

	conn, _, err := Dial(h.URL(), dev.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := &FakeSession{tb: t, Conn: conn, Timeout: 5 * time.Second} // well inside the hub's 10 s busy timeout
	ahead := time.Now().Add(time.Hour)                             // a device clock an hour fast, to see the hello recorded
	s.Send(&wire.Frame{Type: wire.THello, Hello: &wire.Hello{Collector: dev.ID, DeviceTime: ahead.Format(time.RFC3339Nano),
		HLC: hlc.NewClock().Tick(), Streams: []wire.Stream{{Epoch: dev.Epoch, Head: 2}}, Pending: 3,
		ConfigSeq: dev.Catalog.Seq, AppVersion: "e2e-fake"}})
	f, err := s.Read()
	if err != nil {
		t.Fatalf("no welcome while the writer was busy: %v", err)
	}
	if f.Type != wire.TWelcome {
		t.Fatalf("got %s instead of welcome", f.Type)
	}
	if len(f.Welcome.Positions) != 1 || f.Welcome.Positions[0].Through != 2 {
		t.Fatalf("welcome positions %+v, want through 2", f.Welcome.Positions)
	}
	if d := h.Device(dev.ID); d.ClockOffsetMS > 30*60*1000 {
		t.Fatalf("the hello was stored while the test held the write lock: %+v", d)
	}
	busy.Rollback()

	// Once the writer is free the hello is stored, and records still flow.
	deadline := time.Now().Add(30 * time.Second)
	for h.Device(dev.ID).ClockOffsetMS < 50*60*1000 {
		if time.Now().After(deadline) {
			t.Fatalf("the hello was never recorded: %+v", h.Device(dev.ID))
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Timeout = 30 * time.Second
	if ack := s.Push(dev.Next()); ack.Accepted != 1 {
		t.Fatalf("ack after the storm %+v", ack)
	}
}
