// Package bench holds the end-to-end benchmarks behind docs/BENCHMARKS.md:
// sync throughput of a large backlog against the hub's crypto limit, and
// capture latency. They wire the real hub and collector components together
// in one process over loopback. Run them with `make bench`.
package bench
