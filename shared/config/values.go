package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Value is a setting's value, bound to a field of the program's settings
// struct. Set parses the text form that flags and environment variables
// give; the file's typed TOML value goes through Set too, after its TOML
// type is checked against Kind.
type Value interface {
	// Set parses s and stores it; the error says what is expected.
	Set(s string) error
	// String is the current value in the form Set takes.
	String() string
	// Kind is the TOML type the file must use.
	Kind() Kind
	// Want says what a valid value looks like, e.g. "host:port".
	Want() string
}

// Kind is a setting's TOML type.
type Kind int

const (
	KindString Kind = iota
	KindInt
	KindBool
)

func (k Kind) String() string {
	switch k {
	case KindInt:
		return "an integer"
	case KindBool:
		return "true or false"
	}
	return "a quoted string"
}

// errWant is the usual refusal: what a valid value looks like.
func errWant(v Value) error { return errors.New("want " + v.Want()) }

type stringValue struct {
	p     *string
	want  string
	check func(string) error
}

func (v *stringValue) Set(s string) error {
	if v.check != nil {
		if err := v.check(s); err != nil {
			return err
		}
	}
	*v.p = s
	return nil
}
func (v *stringValue) String() string { return *v.p }
func (v *stringValue) Kind() Kind     { return KindString }
func (v *stringValue) Want() string   { return v.want }

// String is a free-form string; check, if not nil, refuses bad ones with an
// error that says what is expected (want describes it for the docs).
func String(p *string, want string, check func(string) error) Value {
	return &stringValue{p: p, want: want, check: check}
}

// Path is a non-empty file system path.
func Path(p *string) Value {
	v := &stringValue{p: p, want: "a non-empty path"}
	v.check = func(s string) error {
		if strings.TrimSpace(s) == "" {
			return errWant(v)
		}
		return nil
	}
	return v
}

// HostPort is a listen address: host:port, where host may be empty (all
// interfaces) and port is 0 to 65535.
func HostPort(p *string) Value {
	v := &stringValue{p: p, want: "host:port, e.g. 127.0.0.1:8701 or :8700"}
	v.check = func(s string) error {
		_, port, err := net.SplitHostPort(s)
		if err != nil {
			return errWant(v)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return errWant(v)
		}
		return nil
	}
	return v
}

// URL is an absolute http:// or https:// URL with a host and no query or
// fragment; optional allows "".
func URL(p *string, optional bool) Value {
	v := &stringValue{p: p, want: "an http:// or https:// URL such as https://hub.example.com"}
	if optional {
		v.want += `, or "" for none`
	}
	v.check = func(s string) error {
		if s == "" && optional {
			return nil
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return errWant(v)
		}
		return nil
	}
	return v
}

// OneOf is one of a fixed set of words.
func OneOf(p *string, choices ...string) Value {
	v := &stringValue{p: p, want: "one of " + strings.Join(choices, ", ")}
	v.check = func(s string) error {
		if !slices.Contains(choices, s) {
			return errWant(v)
		}
		return nil
	}
	return v
}

type durationValue struct {
	p        *time.Duration
	min, max time.Duration
}

// Duration is a Go duration ("90s", "10m", "1h30m") from min to max.
func Duration(p *time.Duration, min, max time.Duration) Value {
	return &durationValue{p: p, min: min, max: max}
}

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < v.min || d > v.max {
		return errWant(v)
	}
	*v.p = d
	return nil
}
func (v *durationValue) String() string { return FormatDuration(*v.p) }
func (v *durationValue) Kind() Kind     { return KindString }
func (v *durationValue) Want() string {
	return fmt.Sprintf("a duration such as 10s, 5m or 1h, from %s to %s", FormatDuration(v.min), FormatDuration(v.max))
}

// FormatDuration writes d the short way: 1m, not 1m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

type intValue struct {
	p        *int
	min, max int
}

// Int is an integer from min to max.
func Int(p *int, min, max int) Value { return &intValue{p: p, min: min, max: max} }

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < v.min || n > v.max {
		return errWant(v)
	}
	*v.p = n
	return nil
}
func (v *intValue) String() string { return strconv.Itoa(*v.p) }
func (v *intValue) Kind() Kind     { return KindInt }
func (v *intValue) Want() string   { return fmt.Sprintf("an integer from %d to %d", v.min, v.max) }

type boolValue struct{ p *bool }

// Bool is true or false.
func Bool(p *bool) Value { return &boolValue{p: p} }

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return errWant(v)
	}
	*v.p = b
	return nil
}
func (v *boolValue) String() string { return strconv.FormatBool(*v.p) }
func (v *boolValue) Kind() Kind     { return KindBool }
func (v *boolValue) Want() string   { return "true or false" }
