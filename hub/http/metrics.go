package http

import (
	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/metrics"
)

// ServeMetrics serves reg at GET /metrics in the Prometheus text format and
// counts every request of the server into it by route pattern. Unless open,
// a scrape needs a bearer token with the read scope (Prometheus:
// authorization.credentials_file); the hub's listen address usually also
// serves visitors' phones, and device ids are nobody else's business.
// Call it before Open.
func (s *Server) ServeMetrics(reg *metrics.Registry, open bool) {
	reg.Register(metrics.CollectorFunc(func(w *metrics.Writer) {
		w.Family("attesta_hub_build_info", "The running hub's version.", metrics.Gauge)
		w.Sample("attesta_hub_build_info", 1, "version", hub.Version)
	}))
	s.instrument = metrics.NewHTTP(reg, "attesta_hub").Wrap
	h := reg.ServeHTTP
	if !open {
		h = s.scoped(hub.ScopeRead, h)
	}
	s.mux.HandleFunc("GET /metrics", h)
}
