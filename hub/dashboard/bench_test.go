package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/attesta/attesta/hub"
)

// BenchmarkRequestQueue renders a full queue page: 1000 open requests, the
// most one bulk action takes.
func BenchmarkRequestQueue(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	for i := range 1000 {
		if _, err := e.st.CreateRequest(ctx, hub.NewRequest{Kind: hub.RequestAccess, Email: fmt.Sprintf("p%d@example.com", i), Channel: "api"}); err != nil {
			b.Fatal(err)
		}
	}
	c := e.client().signedIn()
	b.ResetTimer()
	for b.Loop() {
		if r := c.get("/dashboard/requests"); r.Status != http.StatusOK {
			b.Fatal(r.Status)
		}
	}
}

// BenchmarkSignIn is one successful sign-in: throttle bookkeeping, an
// argon2id check (19 MiB, 2 passes) and a new session.
func BenchmarkSignIn(b *testing.B) {
	e := newEnv(b)
	for b.Loop() {
		if r := e.client().login(password); r.Status != http.StatusSeeOther {
			b.Fatal(r.Status)
		}
	}
}
