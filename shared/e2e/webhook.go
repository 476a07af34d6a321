package e2e

import (
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/attesta/attesta/shared/webhook"
)

// Delivery is a webhook delivery as a receiver sees it.
type Delivery struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	SubjectID string          `json:"subject_id"`
	At        time.Time       `json:"at"`
	Data      json.RawMessage `json:"data"`
}

// Receiver is a webhook receiver (a CRM) on 127.0.0.1 that verifies every
// delivery's signature and keeps those it accepted, in arrival order.
// Answer decides each reply; nil accepts with 200.
type Receiver struct {
	tb     testing.TB
	Addr   string
	Secret string
	Answer func(d Delivery, attempt int) int

	mu       sync.Mutex
	srv      *http.Server
	attempts int
	accepted []Delivery
	bad      []string
}

// NewReceiver reserves a loopback port for a receiver that is not yet up:
// connections to it are refused until Up.
func NewReceiver(tb testing.TB) *Receiver {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &Receiver{tb: tb, Addr: ln.Addr().String()}
	ln.Close()
	tb.Cleanup(r.Down)
	return r
}

// URL is where the hub delivers.
func (r *Receiver) URL() string { return "http://" + r.Addr + "/hooks/attesta" }

// Up starts serving on the reserved port.
func (r *Receiver) Up() {
	r.tb.Helper()
	ln, err := net.Listen("tcp", r.Addr)
	if err != nil {
		r.tb.Fatal(err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go srv.Serve(ln)
}

// Down stops serving; connections are refused again.
func (r *Receiver) Down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	secret := r.Secret
	r.mu.Unlock()
	if secret == "" { // not configured yet (the secret is still on its way from 'webhook add')
		http.Error(w, "not configured yet", http.StatusServiceUnavailable)
		return
	}
	if err := webhook.Verify(secret, req.Header.Get(webhook.SignatureHeader), body, 0, time.Now()); err != nil {
		r.mu.Lock()
		r.bad = append(r.bad, err.Error())
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var d Delivery
	if err := json.Unmarshal(body, &d); err != nil || d.ID != req.Header.Get(webhook.EventIDHeader) || d.Type != req.Header.Get(webhook.EventTypeHeader) {
		r.mu.Lock()
		r.bad = append(r.bad, "payload "+string(body))
		r.mu.Unlock()
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.attempts++
	n, answer := r.attempts, r.Answer
	r.mu.Unlock()
	status := http.StatusOK
	if answer != nil {
		status = answer(d, n)
	}
	if status < 300 {
		r.mu.Lock()
		r.accepted = append(r.accepted, d)
		r.mu.Unlock()
	}
	w.WriteHeader(status)
}

// Accepted is every delivery answered with a 2xx, in arrival order,
// duplicates included.
func (r *Receiver) Accepted() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.accepted...)
}

// Attempts is how many signed deliveries arrived, whatever the answer.
func (r *Receiver) Attempts() int { r.mu.Lock(); defer r.mu.Unlock(); return r.attempts }

// Bad lists deliveries that failed verification.
func (r *Receiver) Bad() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bad...)
}

// Notification is a row of the hub's change feed.
type Notification struct {
	Seq       int64
	Type      string
	SubjectID string
}

// Feed reads the hub's change feed directly (read-only).
func (h *Hub) Feed() []Notification {
	h.tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(h.Dir, "hub.db")+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		h.tb.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT seq, type, COALESCE(subject_id, '') FROM notifications ORDER BY seq`)
	if err != nil {
		h.tb.Fatal(err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		if err := rows.Scan(&n.Seq, &n.Type, &n.SubjectID); err != nil {
			h.tb.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		h.tb.Fatal(err)
	}
	return out
}
