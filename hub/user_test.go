package hub_test

import (
	"strings"
	"testing"
	"time"

	"github.com/attesta/attesta/hub"
)

func TestPasswordHash(t *testing.T) {
	h, err := hub.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not argon2id in PHC format with the expected parameters", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Error("the hash contains the password")
	}
	h2, _ := hub.HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: no random salt")
	}
	for _, c := range []struct {
		p    string
		want bool
	}{{"correct horse battery", true}, {"correct horse batterY", false}, {"", false}, {"correct horse battery ", false}} {
		if got := hub.CheckPassword(h, c.p); got != c.want {
			t.Errorf("CheckPassword(%q) = %v, want %v", c.p, got, c.want)
		}
	}
	if hub.CheckLogin("", "correct horse battery") {
		t.Error("CheckLogin with no user said yes")
	}
}

func TestParsePasswordHashRefuses(t *testing.T) {
	good, _ := hub.HashPassword("correct horse battery")
	parts := strings.Split(good, "$")
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=18$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=4194304,t=2,p=1$" + parts[4] + "$" + parts[5], // 4 GiB: a tampered row must not allocate it
		"$argon2id$v=19$m=19456,t=1000,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1,x=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$!!$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5][:4],
		good + "$",
	} {
		if _, _, _, _, _, err := hub.ParsePasswordHash(h); err == nil {
			t.Errorf("ParsePasswordHash(%q) accepted it", h)
		}
		if hub.CheckPassword(h, "correct horse battery") {
			t.Errorf("CheckPassword accepted a password against %q", h)
		}
	}
}

func FuzzParsePasswordHash(f *testing.F) {
	good, _ := hub.HashPassword("correct horse battery")
	f.Add(good)
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$$")
	f.Fuzz(func(t *testing.T, h string) {
		_, key, tm, m, p, err := hub.ParsePasswordHash(h)
		if err != nil {
			return
		}
		if m > 1<<20 || tm > 10 || p > 16 || len(key) > 64 {
			t.Fatalf("accepted parameters m=%d t=%d p=%d keylen=%d from %q", m, tm, p, len(key), h)
		}
	})
}

func TestPasswordRules(t *testing.T) {
	for p, ok := range map[string]bool{"short": false, "123456789": false, "1234567890": true, "àèìòùàèìòù": true, strings.Repeat("x", 257): false} {
		if err := hub.CheckPasswordRules(p); (err == nil) != ok {
			t.Errorf("CheckPasswordRules(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

func TestNormalizeLogin(t *testing.T) {
	for in, want := range map[string]string{"DPO": "dpo", " anna.rossi@example.com ": "anna.rossi@example.com", "a": "a"} {
		if got, err := hub.NormalizeLogin(in); err != nil || got != want {
			t.Errorf("NormalizeLogin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-dpo", "a b", "<script>", strings.Repeat("a", 65), "dp\no"} {
		if _, err := hub.NormalizeLogin(in); err == nil {
			t.Errorf("NormalizeLogin(%q) accepted it", in)
		}
	}
}

func TestSessionLive(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := hub.Session{CreatedAt: t0, SeenAt: t0}
	cases := []struct {
		name string
		seen time.Time
		now  time.Time
		want bool
	}{
		{"just signed in", t0, t0, true},
		{"idle 29 min", t0, t0.Add(29 * time.Minute), true},
		{"idle 30 min", t0, t0.Add(hub.SessionIdle), false},
		{"active 11h59", t0.Add(11*time.Hour + 50*time.Minute), t0.Add(11*time.Hour + 59*time.Minute), true},
		{"active but 12h old", t0.Add(11*time.Hour + 59*time.Minute), t0.Add(hub.SessionMax), false},
		{"created in the future (clock set back)", t0, t0.Add(-time.Hour), false},
	}
	for _, c := range cases {
		s.SeenAt = c.seen
		if got := s.Live(c.now); got != c.want {
			t.Errorf("%s: Live = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	a, err := hub.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := hub.NewSecret()
	if a == b || !hub.ValidSecret(a) || !hub.ValidSecret(b) {
		t.Fatalf("secrets %q %q", a, b)
	}
	if id, again := hub.SessionID(a), hub.SessionID(a); id == a || len(id) != 64 || id != again || id == hub.SessionID(b) {
		t.Error("SessionID is not a stable hash")
	}
	for _, s := range []string{"", "short", a + "x", strings.Repeat("!", 43), a[:42] + "="} {
		if hub.ValidSecret(s) {
			t.Errorf("ValidSecret(%q)", s)
		}
	}
	if !hub.SameSecret(a, a) || hub.SameSecret(a, b) || hub.SameSecret("", "") || hub.SameSecret(a[:10], a) {
		t.Error("SameSecret")
	}
}

func TestThrottle(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var th hub.Throttle
	now := t0
	// Five free attempts, each failing at once.
	for i := range hub.ThrottleFreeLogin {
		if w := th.Wait(hub.ThrottleFreeLogin, now); w != 0 {
			t.Fatalf("attempt %d must wait %s", i+1, w)
		}
		th = th.Fail(now)
	}
	// Then 1 s, 2 s, 4 s … after the last failure.
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		if w := th.Wait(hub.ThrottleFreeLogin, now); w != want {
			t.Fatalf("after %d failures: wait %s, want %s", th.Failures, w, want)
		}
		if w := th.Wait(hub.ThrottleFreeLogin, now.Add(want-time.Millisecond)); w != time.Millisecond {
			t.Fatalf("step %d: just before the wait ends: %s", i, w)
		}
		now = now.Add(want)
		if w := th.Wait(hub.ThrottleFreeLogin, now); w != 0 {
			t.Fatalf("step %d: the wait is over but still %s", i, w)
		}
		th = th.Fail(now)
	}
	// Capped.
	th.Failures = 40
	if w := th.Wait(hub.ThrottleFreeLogin, th.Last); w != hub.ThrottleMaxWait {
		t.Errorf("after 40 failures: wait %s, want %s", w, hub.ThrottleMaxWait)
	}
	// Forgotten after an hour without failures.
	if w := th.Wait(hub.ThrottleFreeLogin, th.Last.Add(hub.ThrottleForget)); w != 0 {
		t.Errorf("an hour later: wait %s", w)
	}
	if n := th.Fail(th.Last.Add(hub.ThrottleForget)).Failures; n != 1 {
		t.Errorf("a failure an hour later counts as %d", n)
	}
	// The address limit is looser.
	if w := (hub.Throttle{Failures: 10, Last: t0}).Wait(hub.ThrottleFreeAddr, t0); w != 0 {
		t.Errorf("10 failures from one address: wait %s", w)
	}
}

func TestThrottleForgive(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	at := t0.Add(10 * time.Minute)
	stale := hub.Throttle{Failures: 19, Last: at.Add(-hub.ThrottleForget)}
	for _, c := range []struct {
		name        string
		before, now hub.Throttle // as the attempt found it; as it is when forgiven
		want        hub.Throttle
	}{
		{"first attempt", hub.Throttle{}, hub.Throttle{Failures: 1, Last: at}, hub.Throttle{}},
		{"earlier failures stand, and still age from the last of them",
			hub.Throttle{Failures: 19, Last: t0}, hub.Throttle{Failures: 20, Last: at}, hub.Throttle{Failures: 19, Last: t0}},
		{"forgotten failures stay forgotten", stale, hub.Throttle{Failures: 1, Last: at}, stale},
		{"a later attempt keeps its count and time",
			hub.Throttle{Failures: 3, Last: t0}, hub.Throttle{Failures: 5, Last: at.Add(time.Second)}, hub.Throttle{Failures: 4, Last: at.Add(time.Second)}},
		{"a parallel attempt at the same instant keeps its count",
			hub.Throttle{Failures: 3, Last: t0}, hub.Throttle{Failures: 5, Last: at}, hub.Throttle{Failures: 4, Last: at}},
		{"never below zero", hub.Throttle{Failures: 3, Last: t0}, hub.Throttle{}, hub.Throttle{}},
	} {
		got := c.now.Forgive(at, c.before)
		if got.Failures != c.want.Failures || !got.Last.Equal(c.want.Last) {
			t.Errorf("%s: %+v forgiven is %+v, want %+v", c.name, c.now, got, c.want)
		}
	}
}
