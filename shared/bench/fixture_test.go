package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/hub"
	hhttp "github.com/attesta/attesta/hub/http"
	hsqlite "github.com/attesta/attesta/hub/sqlite"
	hws "github.com/attesta/attesta/hub/ws"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
)

// loaderVersion changes whenever subjectsFixture would build a different
// database, so a cached one is not reused by mistake.
const loaderVersion = "subjects-1"

// subjectsFixture returns the path of a hub database holding n subjects,
// loaded through the store's own ingest and reconciliation as verified
// records (the crypto is what BenchmarkIngest1M measures), each with one
// consent record and a choice for every catalog purpose. Building 1,000,000
// takes many minutes, so the database is built once and kept in the
// system's temporary folder under a name made from n, the hub's migrations
// and loaderVersion; a schema change builds a new one. Callers get the
// cached file itself and must open it with openHub, which copies it.
func subjectsFixture(tb testing.TB, n int) string {
	tb.Helper()
	key, err := schemaKey()
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(os.TempDir(), "attesta-bench")
	path := filepath.Join(dir, fmt.Sprintf("subjects-%d-%s.db", n, key))
	if _, err := os.Stat(path); err == nil {
		tb.Logf("using the cached fixture %s", path)
		return path
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	tmp := path + ".building"
	os.Remove(tmp)
	os.Remove(tmp + "-wal")
	os.Remove(tmp + "-shm")
	start := time.Now()
	ctx := context.Background()
	st, err := hsqlite.Open(ctx, tmp)
	if err != nil {
		tb.Fatal(err)
	}
	cat, _ := fixtures.Catalog()
	if _, err := st.Publish(ctx, cat); err != nil {
		tb.Fatal(err)
	}
	if _, err := st.Keys(ctx); err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	const per = 5000
	for done := 0; done < n; done += per {
		batch := make([]hub.Incoming, 0, per)
		for i := done; i < min(done+per, n); i++ {
			p := synthPerson(i)
			payload, _ := json.Marshal(record.Payload{Subject: p, Salt: []byte{1}})
			env := &record.Envelope{Schema: 1, ID: uuid.Must(uuid.NewV7()).String(), Kind: record.Given, Collector: "loader", Epoch: "e",
				Seq: uint64(i + 1), CapturedAt: now.Format(time.RFC3339Nano), HLC: hlc.New(now.UnixMilli(), 0), Touchpoint: "fair-milano-b12",
				Language: "it", PayloadSHA256: record.PayloadHash(payload), Sealed: []byte{1}}
			for k, pu := range cat.Purposes {
				env.Purposes = append(env.Purposes, record.Choice{Purpose: pu.Code, Granted: (i+k)%3 != 0, RetentionDays: pu.RetentionDays})
			}
			envb, _ := json.Marshal(env)
			s := record.Signed{Envelope: envb, Sig: make([]byte, 64)}
			batch = append(batch, hub.Incoming{Signed: s, Env: env, Hash: s.HashHex(), Payload: payload, Subject: &p,
				ReceivedAt: now, CorrectedAt: now, Countersig: []byte{1}})
		}
		if _, err := st.Ingest(ctx, "loader", batch); err != nil {
			tb.Fatal(err)
		}
	}
	// One file, no WAL beside it, so a plain copy is a whole database.
	if _, err := st.DB().W.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		tb.Fatal(err)
	}
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("built %d subjects in %v (%.0f subjects/s), cached as %s", n, time.Since(start).Round(time.Second),
		float64(n)/time.Since(start).Seconds(), path)
	return path
}

// schemaKey hashes the hub's migrations and the loader's version.
func schemaKey() (string, error) {
	files, err := filepath.Glob("../../hub/sqlite/migrations/*.sql")
	if err != nil || len(files) == 0 {
		return "", fmt.Errorf("find the hub's migrations: %v", err)
	}
	sort.Strings(files)
	h := sha256.New()
	io.WriteString(h, loaderVersion)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// openHub copies the database at src into the test's temporary folder and
// starts a hub on the copy, as a restarted hub would.
func openHub(tb testing.TB, src string) *hubRig {
	tb.Helper()
	dst := filepath.Join(tb.TempDir(), "hub.db")
	if err := copyFile(src, dst); err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	st, err := hsqlite.Open(ctx, dst)
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := st.Keys(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	h := &hubRig{st: st, ws: hws.NewServer(st, keys)}
	h.ws.Logger = quiet
	h.srv = hhttp.NewServer(st, h.ws)
	h.srv.Addr, h.srv.Logger = "127.0.0.1:0", quiet
	if err := h.srv.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.ws.Close(); h.srv.Close(context.Background()); st.Close() })
	return h
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// processCPU is the CPU time this process has used, user and system: on a
// machine shared with other work it says what a run cost when the wall
// clock cannot.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
