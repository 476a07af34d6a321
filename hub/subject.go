package hub

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"

	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/record"
)

// Identifier kinds: what may merge two records into one subject by itself.
const (
	IdentEmail = "email"
	IdentPhone = "phone"
)

// Identifier is a normalised way to reach a person. Two records with the
// same identifier are the same subject.
type Identifier struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// NormalizeEmail trims and lower-cases an address and converts its domain
// to ASCII (IDNA), so "  Mario.Rossi@Esempio.IT " and "mario.rossi@esempio.it"
// are one identifier. It keeps dots and +tags: folding those is only a hint
// (see FoldEmail).
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", apperr.Errorf(apperr.EINVALID, "email %q is not an address (want name@domain)", s)
	}
	ascii, err := domains.toASCII(strings.ToLower(strings.TrimSuffix(domain, ".")))
	if err != nil || !strings.Contains(ascii, ".") {
		return "", apperr.Errorf(apperr.EINVALID, "email %q has an invalid domain", s)
	}
	return strings.ToLower(local) + "@" + ascii, nil
}

// domainCache remembers IDNA conversions: a campaign list of millions of
// addresses has a few thousand domains, and the conversion is most of the
// cost of normalising an address. It forgets everything when full.
type domainCache struct {
	mu sync.RWMutex
	m  map[string]domainASCII
}

type domainASCII struct {
	ascii string
	err   error
}

const domainCacheMax = 16 << 10

var domains = &domainCache{m: map[string]domainASCII{}}

func (c *domainCache) toASCII(domain string) (string, error) {
	c.mu.RLock()
	d, ok := c.m[domain]
	c.mu.RUnlock()
	if ok {
		return d.ascii, d.err
	}
	d.ascii, d.err = idna.Lookup.ToASCII(domain)
	c.mu.Lock()
	if len(c.m) >= domainCacheMax {
		clear(c.m)
	}
	c.m[domain] = d
	c.mu.Unlock()
	return d.ascii, d.err
}

// FoldEmail reduces a normalised address further the way large mailbox
// providers do (a +tag is dropped everywhere; dots are dropped for Gmail).
// Equal folded addresses only suggest a match: another provider may treat
// them as different mailboxes.
func FoldEmail(normalized string) string {
	local, domain, _ := strings.Cut(normalized, "@")
	local, _, _ = strings.Cut(local, "+")
	if domain == "googlemail.com" {
		domain = "gmail.com"
	}
	if domain == "gmail.com" {
		local = strings.ReplaceAll(local, ".", "")
	}
	return local + "@" + domain
}

// NormalizePhone parses a number as written, with region (ISO 3166-1
// alpha-2) for numbers without a country code, and returns it in E.164.
func NormalizePhone(s, region string) (string, error) {
	n, err := phonenumbers.Parse(strings.TrimSpace(s), strings.ToUpper(region))
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", apperr.Errorf(apperr.EINVALID, "phone %q is not a valid number (region %s)", s, region)
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// CompactE164 returns the E.164 form of a number written internationally —
// '+' then digits, optionally grouped by single spaces or dashes — if the
// number is valid; ok is false for anything else. It does not check
// validity: a caller that finds the result among normalised identifiers
// knows it is valid, and NormalizePhone would return the same
// (FuzzCompactE164 holds them to that). Parsing a number costs tens of
// microseconds; a bulk check of a campaign list skips it for every number
// the hub already holds.
func CompactE164(s string) (e164 string, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '+' {
		return "", false
	}
	b := make([]byte, 1, len(s))
	b[0] = '+'
	sep := true // no separator right after '+', nor two in a row
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			b, sep = append(b, c), false
		case (c == ' ' || c == '-') && !sep:
			sep = true
		default:
			return "", false
		}
	}
	if sep || len(b) < 8 || len(b) > 16 || b[1] == '0' {
		return "", false
	}
	return string(b), true
}

// ParseIdentifier reads how head office names a person: an email or a phone
// (region for numbers without a country code), exactly one of them.
func ParseIdentifier(email, phone, region string) (Identifier, error) {
	switch {
	case email != "" && phone != "":
		return Identifier{}, apperr.Errorf(apperr.EINVALID, "give email or phone, not both")
	case email != "":
		v, err := NormalizeEmail(email)
		return Identifier{IdentEmail, v}, err
	case phone != "":
		v, err := NormalizePhone(phone, region)
		return Identifier{IdentPhone, v}, err
	}
	return Identifier{}, apperr.Errorf(apperr.EINVALID, "email or phone is required")
}

// Identifiers returns a captured subject's identifiers. A malformed one is
// left out (the collector validated them; the hub never refuses a signed
// record over it) and reported in bad.
func Identifiers(s record.Subject, region string) (ids []Identifier, bad []string) {
	if s.Email != "" {
		if v, err := NormalizeEmail(s.Email); err == nil {
			ids = append(ids, Identifier{IdentEmail, v})
		} else {
			bad = append(bad, IdentEmail)
		}
	}
	if s.Phone != "" {
		if v, err := NormalizePhone(s.Phone, region); err == nil {
			ids = append(ids, Identifier{IdentPhone, v})
		} else {
			bad = append(bad, IdentPhone)
		}
	}
	return ids, bad
}

// Suggestion reasons: why two subjects may be one person. A person reviews
// them; they never merge by themselves.
const (
	SuggestFoldedEmail = "folded_email" // equal after Gmail-style dot/plus folding
	SuggestSimilarName = "similar_name" // nearly the same full name
)

// NameSimilarity is the Jaro-Winkler similarity above which two full
// names suggest the same person.
const NameSimilarity = 0.92

// CommonName is how many similar names a new subject may have before its
// name counts as common and suggests nothing: "Mario Rossi" matches
// thousands of people, and a review queue full of them helps nobody.
const CommonName = 3

// NameKeys are blocking keys for finding similar names without comparing
// every subject: the given name with the family name's first three letters,
// and the family name with the given name's. A typo in one part still
// shares the other key, and blocks stay small in a large population.
func NameKeys(given, family string) (gk, fk string) {
	g, f := foldName(given), foldName(family)
	if g == "" || f == "" {
		return "", ""
	}
	return g + "|" + prefix(f, 3), f + "|" + prefix(g, 3)
}

func prefix(s string, n int) string {
	r := []rune(s)
	return string(r[:min(n, len(r))])
}

// FullName is the folded "given family" that similarity is computed on.
func FullName(given, family string) string {
	return strings.TrimSpace(foldName(given) + " " + foldName(family))
}

// foldName lower-cases, strips accents and keeps letters and single spaces.
func foldName(s string) string {
	var b strings.Builder
	space := false
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case unicode.IsLetter(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(unicode.ToLower(r))
		default:
			space = true
		}
	}
	return b.String()
}

// JaroWinkler is the Jaro-Winkler similarity of a and b, from 0 to 1.
func JaroWinkler(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	if len(ra) == 0 && len(rb) == 0 {
		return 1
	}
	if len(ra) == 0 || len(rb) == 0 {
		return 0
	}
	window := max(len(ra), len(rb))/2 - 1
	window = max(window, 0)
	ma, mb := make([]bool, len(ra)), make([]bool, len(rb))
	matches := 0
	for i := range ra {
		for j := max(0, i-window); j < min(len(rb), i+window+1); j++ {
			if !mb[j] && ra[i] == rb[j] {
				ma[i], mb[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	transpositions, j := 0, 0
	for i := range ra {
		if !ma[i] {
			continue
		}
		for !mb[j] {
			j++
		}
		if ra[i] != rb[j] {
			transpositions++
		}
		j++
	}
	m := float64(matches)
	jaro := (m/float64(len(ra)) + m/float64(len(rb)) + (m-float64(transpositions/2))/m) / 3
	prefix := 0
	for prefix < min(4, len(ra), len(rb)) && ra[prefix] == rb[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}

// Subject is one person as the hub knows them: the identifiers records
// carried, and the subjects merged into it.
type Subject struct {
	ID          string       `json:"id"`
	CreatedAt   time.Time    `json:"created_at"`
	Identifiers []Identifier `json:"identifiers"`
	Merged      []Merge      `json:"merged,omitempty"`      // links that make other subjects part of this one
	States      []State      `json:"states"`                // current decision per purpose
	History     []Fact       `json:"history"`               // every choice, in decision order
	Events      []Event      `json:"events"`                // the records about them, oldest first
	Corrections []Correction `json:"corrections,omitempty"` // rectifications recorded, oldest first
	Erasure     *Erasure     `json:"erasure,omitempty"`     // set once the personal data was erased
}

// Merge is a link making one subject part of another, with its provenance.
// Undoing it keeps the row: links are never deleted, records never rewritten.
type Merge struct {
	ID        int64      `json:"id"`
	Into      string     `json:"into"`
	From      string     `json:"from"`
	Reason    string     `json:"reason"` // e.g. "email matched subject A, phone matched subject B in event X"
	By        string     `json:"by"`     // "auto" or who reviewed it
	CreatedAt time.Time  `json:"created_at"`
	UndoneAt  *time.Time `json:"undone_at,omitempty"`
}

// Suggested is a possible match waiting for a person to review it.
type Suggested struct {
	ID        int64     `json:"id"`
	A         string    `json:"subject_a"`
	B         string    `json:"subject_b"`
	Reason    string    `json:"reason"`
	Score     float64   `json:"score,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// CheckQuery asks whether one person may be contacted for one purpose.
type CheckQuery struct {
	Ident   Identifier
	Purpose string
}

// Decision answers a CheckQuery.
type Decision struct {
	Decision  string     `json:"decision"`
	SubjectID string     `json:"subject_id,omitempty"`
	EventID   string     `json:"event_id,omitempty"`
	Since     *time.Time `json:"since,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Withdrawal is a head-office withdrawal as recorded.
type Withdrawal struct {
	SubjectID string   `json:"subject_id"`
	Events    []string `json:"events"` // the hub-signed withdrawal records
	States    []State  `json:"states"`
}

// SubjectStore is what head office asks about people.
type SubjectStore interface {
	// Check answers each query in order, at the store's current time.
	Check(ctx context.Context, qs []CheckQuery) ([]Decision, error)
	// FindSubject returns the subject an identifier belongs to (its root
	// after merges); ENOTFOUND when nobody has it.
	FindSubject(ctx context.Context, id Identifier) (string, error)
	Subject(ctx context.Context, id string) (*Subject, error)
	// Export returns everything held about a subject (GDPR Art. 15/20).
	Export(ctx context.Context, id string) (*Export, error)
	WithdrawSubject(ctx context.Context, id string, purposes []string, channel string) (*Withdrawal, error)
	Suggestions(ctx context.Context, limit int) ([]Suggested, error)
	ResolveSuggestion(ctx context.Context, id int64, merge bool, by string) error
	Unmerge(ctx context.Context, mergeID int64, by string) error
}

// Export is a subject's data, machine-readable.
type Export struct {
	Format      string             `json:"format"`
	GeneratedAt time.Time          `json:"generated_at"`
	Controller  catalog.Controller `json:"controller"`
	Subject     *Subject           `json:"subject"`
	Records     []ExportItem       `json:"records"`
}

// ExportItem is one stored record about the subject, with what it captured.
type ExportItem struct {
	Event
	Signature *record.Handwriting `json:"handwritten_signature,omitempty"`
}
