package hub

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/attesta/attesta/shared/apperr"
)

// User is a head-office staff member who signs in to the dashboard.
type User struct {
	Login     string     `json:"login"`
	CreatedAt time.Time  `json:"created_at"`
	LastLogin *time.Time `json:"last_login,omitempty"`
}

var loginRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

// NormalizeLogin lower-cases and checks a login name: 1–64 characters of
// letters, digits and . _ @ -, starting with a letter or digit.
func NormalizeLogin(s string) (string, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	if !loginRE.MatchString(l) {
		return "", apperr.Errorf(apperr.EINVALID, "login %q: want 1-64 letters, digits or . _ @ -, starting with a letter or digit", s)
	}
	return l, nil
}

// Password rules.
const (
	MinPassword = 10
	MaxPassword = 256 // argon2 hashes anything, but a megabyte "password" is an attack
)

// CheckPasswordRules refuses passwords too short or too long to use.
func CheckPasswordRules(p string) error {
	switch n := len([]rune(p)); {
	case n < MinPassword:
		return apperr.Errorf(apperr.EINVALID, "the password is %d characters; use at least %d", n, MinPassword)
	case len(p) > MaxPassword:
		return apperr.Errorf(apperr.EINVALID, "the password is longer than %d bytes", MaxPassword)
	}
	return nil
}

// argon2id parameters (OWASP's first recommendation: 19 MiB, 2 passes, 1 lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// HashPassword hashes a password with argon2id and a random salt, in the
// PHC string format ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so the
// parameters can be raised later without breaking stored hashes.
func HashPassword(p string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(p), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ParsePasswordHash reads a PHC argon2id string; it refuses parameters
// outside what this program would ever write, so a tampered row cannot
// make a login allocate gigabytes.
func ParsePasswordHash(h string) (salt, key []byte, t, m uint32, p uint8, err error) {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, nil, 0, 0, 0, fmt.Errorf("not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return nil, nil, 0, 0, 0, fmt.Errorf("argon2 version %q", parts[2])
	}
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || n != 3 ||
		m < 8 || m > 1<<20 || t < 1 || t > 10 || p < 1 || p > 16 || fmt.Sprintf("m=%d,t=%d,p=%d", m, t, p) != parts[3] {
		return nil, nil, 0, 0, 0, fmt.Errorf("argon2 parameters %q", parts[3])
	}
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > 64 {
		return nil, nil, 0, 0, 0, fmt.Errorf("argon2 salt")
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return nil, nil, 0, 0, 0, fmt.Errorf("argon2 key")
	}
	return salt, key, t, m, p, nil
}

// CheckPassword reports whether p matches the hash, in constant time.
func CheckPassword(hash, p string) bool {
	if len(p) > MaxPassword {
		return false
	}
	salt, key, t, m, threads, err := ParsePasswordHash(hash)
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(p), salt, t, m, threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

// dummyHash is checked against when a login does not exist, so a wrong
// login and a wrong password take the same time.
var dummyHash, _ = HashPassword("attesta-no-such-user")

// CheckLogin runs the password check for a login that may not exist
// (hash ""), taking the same time either way.
func CheckLogin(hash, p string) bool {
	if hash == "" {
		CheckPassword(dummyHash, p)
		return false
	}
	return CheckPassword(hash, p)
}

// Session lifetimes: a session ends after SessionIdle without a request
// and SessionMax after sign-in, whichever comes first.
const (
	SessionIdle = 30 * time.Minute
	SessionMax  = 12 * time.Hour
	// SessionTouch is how stale SeenAt may get before a request writes it
	// again: one write a minute per active user, not one per request.
	SessionTouch = time.Minute
)

// Session is a signed-in dashboard user. The cookie holds a random secret;
// the store holds only its hash (ID), so a copy of the database signs
// nobody in.
type Session struct {
	ID        string    // SessionID(secret)
	Login     string    //
	CSRF      string    // the token every state-changing form carries
	CreatedAt time.Time //
	SeenAt    time.Time // last request
}

// Live reports whether the session is still valid at now.
func (s *Session) Live(now time.Time) bool {
	return now.Before(s.CreatedAt.Add(SessionMax)) && now.Before(s.SeenAt.Add(SessionIdle)) && !now.Before(s.CreatedAt.Add(-time.Minute))
}

// NewSecret returns 32 random bytes, base64url: a session secret or a CSRF token.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// SessionID is what the store keeps of a session secret.
func SessionID(secret string) string {
	h := sha256.Sum256([]byte("attesta-session\x00" + secret))
	return hex.EncodeToString(h[:])
}

// ValidSecret reports whether s looks like a NewSecret value; anything else
// is not worth a database lookup.
func ValidSecret(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// SameSecret compares a presented token with the expected one in constant time.
func SameSecret(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// Throttle is the record of failed sign-ins for one key (a login, or a
// client address). An attempt counts as failed from before its password is
// checked until it turns out a success.
type Throttle struct {
	Failures int
	Last     time.Time
}

// Sign-in throttling: after Free failures each further attempt waits twice
// as long as the one before (1 s, 2 s, 4 s … up to MaxWait); ThrottleForget
// without a failure clears the count. A success clears its login's count
// and does not count against its address (Forgive): the address keeps only
// the failures, so one valid sign-in cannot wipe a guesser's record there.
const (
	ThrottleFreeLogin = 5  // per login: a person mistyping
	ThrottleFreeAddr  = 20 // per address: an office behind one NAT
	ThrottleMaxWait   = 15 * time.Minute
	ThrottleForget    = time.Hour
)

// Wait is how long a key with free attempts must wait at now before the
// next attempt is even checked; 0 means go ahead.
func (t Throttle) Wait(free int, now time.Time) time.Duration {
	if t.Failures < free || now.Sub(t.Last) >= ThrottleForget {
		return 0
	}
	n := t.Failures - free
	d := ThrottleMaxWait
	if n < 20 {
		d = min(time.Second<<n, ThrottleMaxWait)
	}
	if left := t.Last.Add(d).Sub(now); left > 0 {
		return left
	}
	return 0
}

// Fail records a failure at now.
func (t Throttle) Fail(now time.Time) Throttle {
	if now.Sub(t.Last) >= ThrottleForget {
		t.Failures = 0
	}
	return Throttle{Failures: t.Failures + 1, Last: now}
}

// Forgive takes back one attempt, counted at at before its password was
// checked, that turned out to be a success; before is the record as the
// attempt found it. If nothing was counted since, the record is as before
// (so a success does not keep older failures from being forgotten either);
// otherwise only the count drops by one.
func (t Throttle) Forgive(at time.Time, before Throttle) Throttle {
	if t.Failures == before.Fail(at).Failures && t.Last.Equal(at) {
		return before
	}
	t.Failures = max(t.Failures-1, 0)
	return t
}

// UserStore keeps dashboard users, their sessions and the sign-in throttle.
type UserStore interface {
	// AddUser adds a user with an argon2id hash; ECONFLICT if the login exists.
	AddUser(ctx context.Context, login, hash string) error
	// SetPassword replaces a user's hash and ends their sessions.
	SetPassword(ctx context.Context, login, hash string) error
	// RemoveUser deletes a user and their sessions.
	RemoveUser(ctx context.Context, login string) error
	Users(ctx context.Context) ([]User, error)
	// PasswordHash returns a user's hash; ENOTFOUND when there is no such user.
	PasswordHash(ctx context.Context, login string) (string, error)
	// CreateSession stores a new session and the user's last sign-in.
	CreateSession(ctx context.Context, s Session) error
	// Session returns a session by ID, expired or not; ENOTFOUND when unknown.
	Session(ctx context.Context, id string) (*Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	EndSession(ctx context.Context, id string) error
	// AttemptLogin decides whether a sign-in attempt for key may go ahead
	// at now (Throttle.Wait with free attempts) and, if so, counts it as a
	// failure before the password is even checked, in one transaction: so
	// attempts made in parallel cannot all slip under the limit. It returns
	// how long to wait, 0 when the attempt may proceed, and the record as
	// the attempt found it (for ForgiveAttempt).
	AttemptLogin(ctx context.Context, key string, free int, now time.Time) (time.Duration, Throttle, error)
	// ForgetFailures clears key's count after a successful sign-in.
	ForgetFailures(ctx context.Context, key string) error
	// ForgiveAttempt takes back the attempt AttemptLogin counted for key at
	// at, which found the record before, after it turned out a success
	// (Throttle.Forgive).
	ForgiveAttempt(ctx context.Context, key string, at time.Time, before Throttle) error
}

// Quarantined is a record the hub refused, with why.
type Quarantined struct {
	ID         int64  `json:"id"`
	Collector  string `json:"collector"`
	Epoch      string `json:"epoch,omitempty"`
	Seq        int64  `json:"seq,omitempty"`
	RecordID   string `json:"record_id,omitempty"`
	Code       string `json:"code"`
	Reason     string `json:"reason"`
	ReceivedAt string `json:"received_at"`
}

// DayCount is how many consents one touchpoint captured on one day.
type DayCount struct {
	Day        string // YYYY-MM-DD in the dashboard's time zone
	Touchpoint string
	Given      int // records granting at least one purpose
	Refused    int // captures that granted nothing
}

// IdentifierMatch is a subject found by part of an identifier.
type IdentifierMatch struct {
	Identifier
	SubjectID string
}

// DashboardStore is what the dashboard reads beyond the API's Store.
type DashboardStore interface {
	// Quarantine lists refused records, newest first.
	Quarantine(ctx context.Context, limit int) ([]Quarantined, error)
	// ConsentsByDay counts captures per touchpoint and day from since on;
	// days are dates at offset (seconds east of UTC).
	ConsentsByDay(ctx context.Context, since time.Time, offset int) ([]DayCount, error)
	// SearchIdentifiers finds identifiers of kind starting with prefix
	// (normalised), each with its subject's root.
	SearchIdentifiers(ctx context.Context, kind, prefix string, limit int) ([]IdentifierMatch, error)
}
