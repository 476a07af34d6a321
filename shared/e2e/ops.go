package e2e

import (
	"database/sql"
	"io"
	"net/http"
	"path/filepath"
)

// Through reads, straight from hub.db (read-only, for a hub that is not
// running), how far the hub has committed the newest epoch of collector.
func (h *Hub) Through(collector string) uint64 {
	h.tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(h.Dir, "hub.db")+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		h.tb.Fatal(err)
	}
	defer db.Close()
	var through uint64
	err = db.QueryRow(`SELECT COALESCE((SELECT through FROM streams WHERE collector = ? ORDER BY rowid DESC LIMIT 1), 0)`, collector).Scan(&through)
	if err != nil {
		h.tb.Fatal(err)
	}
	return through
}

// Metrics fetches GET /metrics; with a token, as a read-scope client.
func (h *Hub) Metrics(withToken bool) (status int, body string, err error) {
	req, _ := http.NewRequest("GET", h.URL()+"/metrics", nil)
	if withToken {
		req.Header.Set("Authorization", "Bearer "+h.Token())
	}
	return fetch(h.http, req)
}

// Metrics fetches the collector's GET /metrics.
func (c *Collector) Metrics() (status int, body string, err error) {
	req, _ := http.NewRequest("GET", c.URL()+"/metrics", nil)
	return fetch(c.http, req)
}

func fetch(client *http.Client, req *http.Request) (int, string, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
