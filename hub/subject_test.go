package hub_test

import (
	"testing"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/record"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mario.rossi@esempio.it", "mario.rossi@esempio.it"},
		{"  Mario.Rossi@Esempio.IT ", "mario.rossi@esempio.it"},
		{"anna@Bücher.example", "anna@xn--bcher-kva.example"},
		{"anna@xn--bcher-kva.example", "anna@xn--bcher-kva.example"},
		{"x+news@example.com.", "x+news@example.com"},
	} {
		got, err := hub.NormalizeEmail(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "mario", "@example.com", "mario@", "a@b@c.it", "mario@localhost", "m@exa mple.com"} {
		if got, err := hub.NormalizeEmail(bad); err == nil {
			t.Errorf("NormalizeEmail(%q) = %q, want an error", bad, got)
		}
	}
}

func TestFoldEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mario.rossi@gmail.com", "mariorossi@gmail.com"},
		{"mario.rossi+fiera@googlemail.com", "mariorossi@gmail.com"},
		{"mario.rossi+fiera@esempio.it", "mario.rossi@esempio.it"},
	} {
		if got := hub.FoldEmail(tc.in); got != tc.want {
			t.Errorf("FoldEmail(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct{ in, region, want string }{
		{"+39 333 123 4567", "IT", "+393331234567"},
		{"3331234567", "IT", "+393331234567"},
		{"333-123.4567", "it", "+393331234567"},
		{"0039 333 1234567", "IT", "+393331234567"},
		{"+44 20 7946 0958", "IT", "+442079460958"},
		{"020 7946 0958", "GB", "+442079460958"},
	} {
		got, err := hub.NormalizePhone(tc.in, tc.region)
		if err != nil || got != tc.want {
			t.Errorf("NormalizePhone(%q, %s) = %q, %v; want %q", tc.in, tc.region, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "12", "not a number", "+39 1"} {
		if got, err := hub.NormalizePhone(bad, "IT"); err == nil {
			t.Errorf("NormalizePhone(%q) = %q, want an error", bad, got)
		}
	}
}

func TestIdentifiers(t *testing.T) {
	ids, bad := hub.Identifiers(record.Subject{Email: " A@B.it", Phone: "3331234567"}, "IT")
	if len(ids) != 2 || ids[0] != (hub.Identifier{Kind: "email", Value: "a@b.it"}) || ids[1].Value != "+393331234567" || len(bad) != 0 {
		t.Fatalf("ids %v bad %v", ids, bad)
	}
	ids, bad = hub.Identifiers(record.Subject{Email: "a@b.it", Phone: "12"}, "IT")
	if len(ids) != 1 || len(bad) != 1 || bad[0] != "phone" {
		t.Fatalf("ids %v bad %v", ids, bad)
	}
}

func TestNames(t *testing.T) {
	if got := hub.FullName("  José ", "Rossi-Bianchi"); got != "jose rossi bianchi" {
		t.Errorf("FullName = %q", got)
	}
	gk, fk := hub.NameKeys("Mario", "Rossi")
	if gk != "mario|ros" || fk != "rossi|mar" {
		t.Errorf("NameKeys = %q %q", gk, fk)
	}
	if gk, fk := hub.NameKeys("", "Rossi"); gk != "" || fk != "" {
		t.Errorf("NameKeys without a given name = %q %q", gk, fk)
	}
	for _, tc := range []struct {
		a, b    string
		similar bool
	}{
		{"mario rossi", "mario rosi", true},
		{"mario rossi", "maria rossi", true},
		{"mario rossi", "marco rossi", true},
		{"mario rossi", "giulia bianchi", false},
		{"mario rossi", "mario verdi", false},
	} {
		s := hub.JaroWinkler(tc.a, tc.b)
		if (s >= hub.NameSimilarity) != tc.similar {
			t.Errorf("JaroWinkler(%q, %q) = %.3f; similar want %v", tc.a, tc.b, s, tc.similar)
		}
	}
	if hub.JaroWinkler("abc", "abc") != 1 || hub.JaroWinkler("", "abc") != 0 {
		t.Error("JaroWinkler bounds")
	}
}

// A number that compacts to E.164 and is valid normalises to exactly that
// form, in any default region, so a bulk check that finds the compact form
// among the hub's identifiers answers what parsing would have.
func FuzzCompactE164(f *testing.F) {
	for _, s := range []string{"+39 333 123 4567", "+393331234567", "+39 06 1234 5678", "+44 20 7946 0000", "+1-202-555-0143",
		"+39  333", "+0 123 4567", "+39 333 1234567 ", " +33 1 23 45 67 89", "+49 30 12345678", "+39-", "+", "+390612345678"} {
		f.Add(s, "IT")
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		c, ok := hub.CompactE164(s)
		v, err := hub.NormalizePhone(s, region)
		if !ok {
			return
		}
		if err == nil && v != c {
			t.Fatalf("%q compacts to %s but normalises to %s (region %s)", s, c, v, region)
		}
		if err == nil {
			if again, err := hub.NormalizePhone(c, region); err != nil || again != c {
				t.Fatalf("the E.164 form %s normalises to %q, %v", c, again, err)
			}
		}
	})
}
