package metrics

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTP counts requests and their latency by route pattern (the ServeMux
// pattern that matched, never the raw path, so ids in paths do not make new
// series), method and status.
type HTTP struct {
	Requests *CounterVec   // <prefix>_http_requests_total{route,method,code}
	Duration *HistogramVec // <prefix>_http_request_duration_seconds{route,method}
	Now      func() time.Time
}

// NewHTTP makes the two families, named with prefix (e.g. attesta_hub), and
// registers them with r.
func NewHTTP(r *Registry, prefix string) *HTTP {
	h := &HTTP{
		Requests: NewCounter(prefix+"_http_requests_total", "HTTP requests by route pattern, method and status code.", "route", "method", "code"),
		Duration: NewHistogram(prefix+"_http_request_duration_seconds",
			"HTTP request latency by route pattern and method; websocket sessions are counted but not timed.", DefaultBuckets, "route", "method"),
		Now: time.Now,
	}
	r.Register(h.Requests, h.Duration)
	return h
}

// Wrap instruments next, which must be (or end in) the ServeMux whose
// pattern is wanted: the mux writes it into the request.
func (h *HTTP) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := h.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			route := r.Pattern
			if _, path, ok := strings.Cut(route, " "); ok {
				route = path // "GET /api/v1/devices/{id}": the method has its own label
			}
			if route == "" {
				route = "unmatched"
			}
			code := sw.status
			switch {
			case sw.hijacked:
				code = http.StatusSwitchingProtocols
			case code == 0:
				code = http.StatusOK
			}
			m := method(r.Method)
			h.Requests.With(route, m, strconv.Itoa(code)).Inc()
			if !sw.hijacked {
				h.Duration.With(route, m).Observe(h.Now().Sub(start).Seconds())
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// method keeps the label to the standard methods.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

type statusWriter struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes on (streamed responses).
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack lets the websocket upgrade through (gorilla asks for http.Hijacker).
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("metrics: the response writer cannot be hijacked")
	}
	c, rw, err := hj.Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}
