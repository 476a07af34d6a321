// Package config loads a program's settings from four layers, each winning
// over the one before: the defaults its New… function set, a TOML file
// (--config FILE, or $PREFIX_CONFIG), environment variables (PREFIX_KEY)
// and flags (--key). Each program declares its settings as a list of
// Setting, bound to the fields of its own settings struct; this package only
// loads, checks and prints them.
//
// A bad value is refused with the setting's name, where it came from and
// what is expected:
//
//	config: /etc/attesta/hub.toml:3: listen = "abc": want host:port, e.g. 127.0.0.1:8701 or :8700
//
// and so is a key no setting has, with its line and the closest known key.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/attesta/attesta/shared/apperr"
)

// Setting is one configurable value.
type Setting struct {
	// Key is the TOML key (lower_snake_case). The environment variable is
	// the loader's prefix and the key in capitals; the flag is the key with
	// dashes for underscores.
	Key string
	// Help says what the setting does; print-default writes it as comments.
	Help  string
	Value Value
	// Alias is another flag name kept for compatibility ("" for none).
	Alias string
	// Secret settings are never printed or echoed in errors, and have no
	// flag: command lines are visible to every user of the machine.
	Secret bool
}

// Flag is the setting's flag name.
func (s *Setting) Flag() string { return strings.ReplaceAll(s.Key, "_", "-") }

// Loader loads a program's settings. Exported fields are options.
type Loader struct {
	Program   string // e.g. attesta-hub, for messages and comments
	EnvPrefix string // e.g. ATTESTA_HUB_
	Settings  []Setting
	// LookupEnv reads the environment; os.LookupEnv by default. An empty
	// variable counts as unset.
	LookupEnv func(string) (string, bool)

	file   string            // --config
	flags  map[string]*given // flag values by key, recorded at parse time
	origin map[string]string // where each set value came from
}

type given struct {
	s     *Setting
	raw   string
	isSet bool
}

var keyRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// New returns a loader for settings; it panics on a malformed or repeated
// key, which is a programming error.
func New(program, envPrefix string, settings ...Setting) *Loader {
	seen := map[string]bool{}
	for _, s := range settings {
		if !keyRE.MatchString(s.Key) || seen[s.Key] || s.Key == "config" || s.Value == nil {
			panic(fmt.Sprintf("config: bad or repeated setting %q", s.Key))
		}
		seen[s.Key] = true
	}
	return &Loader{Program: program, EnvPrefix: envPrefix, Settings: settings, LookupEnv: os.LookupEnv,
		flags: map[string]*given{}, origin: map[string]string{}}
}

// Env is the environment variable of a setting key.
func (l *Loader) Env(key string) string { return l.EnvPrefix + strings.ToUpper(key) }

// Bind adds --config and a flag for each of keys (every setting if none)
// to fs. Flags are only recorded while parsing; Load applies them last.
func (l *Loader) Bind(fs *flag.FlagSet, keys ...string) {
	fs.StringVar(&l.file, "config", "", "TOML settings file (default $"+l.Env("config")+"); see '"+l.Program+" config print-default'")
	for i := range l.Settings {
		s := &l.Settings[i]
		if s.Secret || (len(keys) > 0 && !contains(keys, s.Key)) {
			continue
		}
		g := &given{s: s}
		l.flags[s.Key] = g
		var fv flag.Value = (*flagValue)(g)
		if s.Value.Kind() == KindBool {
			fv = (*boolFlag)(g)
		}
		usage := firstLine(s.Help) + " (env " + l.Env(s.Key) + ")"
		fs.Var(fv, s.Flag(), usage)
		if s.Alias != "" {
			fs.Var(fv, s.Alias, "same as --"+s.Flag())
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func firstLine(s string) string { line, _, _ := strings.Cut(s, "\n"); return line }

type flagValue given

func (f *flagValue) Set(s string) error { f.raw, f.isSet = s, true; return nil }
func (f *flagValue) String() string {
	if f == nil || f.s == nil {
		return ""
	}
	return f.s.Value.String()
}

type boolFlag given

func (f *boolFlag) Set(s string) error { f.raw, f.isSet = s, true; return nil }
func (f *boolFlag) String() string     { return (*flagValue)(f).String() }
func (f *boolFlag) IsBoolFlag() bool   { return true }

// Load applies the file, the environment and the flags given, in that
// order, over the defaults already in the bound fields. Every error is an
// apperr EINVALID naming the setting.
func (l *Loader) Load() error {
	if l.file == "" {
		l.file, _ = l.lookupEnv(l.Env("config"))
	}
	if file := l.file; file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return apperr.Errorf(apperr.EINVALID, "config: %v", err)
		}
		if err := l.decode(file, b); err != nil {
			return err
		}
	}
	for i := range l.Settings {
		s := &l.Settings[i]
		name := l.Env(s.Key)
		if raw, ok := l.lookupEnv(name); ok {
			if err := l.set(s, "$"+name, raw); err != nil {
				return err
			}
		}
	}
	for i := range l.Settings {
		s := &l.Settings[i]
		if g := l.flags[s.Key]; g != nil && g.isSet {
			if err := l.set(s, "--"+s.Flag(), g.raw); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Loader) lookupEnv(name string) (string, bool) {
	v, ok := l.LookupEnv(name)
	return v, ok && v != ""
}

func (l *Loader) set(s *Setting, from, raw string) error {
	if err := s.Value.Set(raw); err != nil {
		return l.refuse(from, s, quote(raw), err)
	}
	l.origin[s.Key] = from
	return nil
}

func (l *Loader) refuse(from string, s *Setting, shown string, err error) error {
	if s.Secret {
		shown = "(hidden)"
	}
	return apperr.Errorf(apperr.EINVALID, "config: %s: %s = %s: %v", from, s.Key, shown, err)
}

func quote(s string) string { return strconv.Quote(s) }

// File is the settings file Load read (from --config or the environment),
// "" if none.
func (l *Loader) File() string { return l.file }

// Origin says where a setting's value came from: "default", the file and
// line, "$VAR" or "--flag".
func (l *Loader) Origin(key string) string {
	if o, ok := l.origin[key]; ok {
		return o
	}
	return "default"
}

// decode applies a TOML document: top-level keys only, each a known
// setting of the right TOML type.
func (l *Loader) decode(file string, b []byte) error {
	var doc map[string]toml.Primitive
	md, err := toml.Decode(string(b), &doc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return apperr.Errorf(apperr.EINVALID, "config: %s:%d: %s", file, pe.Position.Line, pe.Message)
		}
		return apperr.Errorf(apperr.EINVALID, "config: %s: %v", file, err)
	}
	for _, key := range md.Keys() {
		if len(key) != 1 {
			continue // inside a table, which is refused by its own key
		}
		k := key[0]
		where := fmt.Sprintf("%s:%d", file, keyLine(&md, doc[k]))
		s := l.setting(k)
		u := &unmarshaler{l: l, s: s, key: k}
		if err := md.PrimitiveDecode(doc[k], u); err != nil {
			switch {
			case u.err == nil:
				return apperr.Errorf(apperr.EINVALID, "config: %s: %v", where, err)
			case s == nil:
				return apperr.Errorf(apperr.EINVALID, "config: %s: %v", where, u.err)
			}
			return l.refuse(where, s, u.shown, u.err)
		}
		l.origin[k] = where
	}
	return nil
}

// keyLine is the line of a top-level key. The library reports positions
// only in its errors, so a decoder that refuses everything asks for it.
func keyLine(md *toml.MetaData, p toml.Primitive) int {
	var pe toml.ParseError
	if errors.As(md.PrimitiveDecode(p, refuseAll{}), &pe) {
		return pe.Position.Line
	}
	return 0
}

type refuseAll struct{}

func (refuseAll) UnmarshalTOML(any) error { return errors.New("refused") }

func (l *Loader) setting(key string) *Setting {
	for i := range l.Settings {
		if l.Settings[i].Key == key {
			return &l.Settings[i]
		}
	}
	return nil
}

// unmarshaler receives one top-level TOML value (toml.Unmarshaler); an
// error it returns comes back from the library with the key's position.
type unmarshaler struct {
	l     *Loader
	s     *Setting
	key   string
	shown string // the value as written, for messages
	err   error
}

func (u *unmarshaler) UnmarshalTOML(v any) error {
	u.shown = tomlValue(v)
	if u.s == nil {
		u.err = fmt.Errorf("unknown setting %q%s", u.key, u.l.suggest(u.key))
		return u.err
	}
	var raw string
	ok := false
	switch x := v.(type) {
	case string:
		raw, ok = x, u.s.Value.Kind() == KindString
	case int64:
		raw, ok = strconv.FormatInt(x, 10), u.s.Value.Kind() == KindInt
	case bool:
		raw, ok = strconv.FormatBool(x), u.s.Value.Kind() == KindBool
	}
	if !ok {
		u.err = fmt.Errorf("want %s: %s", u.s.Value.Kind(), u.s.Value.Want())
		return u.err
	}
	if err := u.s.Value.Set(raw); err != nil {
		u.err = err
		return err
	}
	return nil
}

// tomlValue shows a decoded value as TOML would write it.
func tomlValue(v any) string {
	switch x := v.(type) {
	case string:
		return quote(x)
	case map[string]any, []map[string]any:
		return "(a table)"
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(map[string]any{"v": v}); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(strings.TrimPrefix(b.String(), "v = "))
}

// suggest names the closest known key for a typo.
func (l *Loader) suggest(key string) string {
	best, bestD := "", 3
	for _, s := range l.Settings {
		if d := distance(key, s.Key); d < bestD {
			best, bestD = s.Key, d
		}
	}
	if best == "" { // "listen_address" for "listen", "shutdown" for "shutdown_timeout"
		for _, s := range l.Settings {
			if len(key) >= 4 && (strings.HasPrefix(key, s.Key) || strings.HasPrefix(s.Key, key)) {
				best = s.Key
				break
			}
		}
	}
	if best == "" {
		return "; '" + l.Program + " config print-default' lists every setting"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// WriteTOML writes every setting as commented TOML: its help, its
// environment variable and flag, and its current value. Fed back with
// --config, the output is valid and changes nothing. With origins set, each
// value says where it came from, and secrets are left out.
func (l *Loader) WriteTOML(w io.Writer, origins bool) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s settings (TOML). Use with: %s run --config FILE (or $%s=FILE).\n", l.Program, l.Program, l.Env("config"))
	fmt.Fprintf(&b, "# Each setting may also come from the environment (%sKEY) or a flag (--key);\n", l.EnvPrefix)
	fmt.Fprintf(&b, "# a flag wins over the environment, which wins over this file, which wins over the default.\n")
	for i := range l.Settings {
		s := &l.Settings[i]
		b.WriteString("\n")
		for _, line := range strings.Split(strings.TrimSpace(s.Help), "\n") {
			b.WriteString("# " + line + "\n")
		}
		how := "env " + l.Env(s.Key)
		if !s.Secret {
			how += ", flag --" + s.Flag()
		}
		fmt.Fprintf(&b, "# %s; %s\n", s.Value.Want(), how)
		if origins && s.Secret {
			state := "not set"
			if s.Value.String() != "" {
				state = "set, from " + l.Origin(s.Key)
			}
			fmt.Fprintf(&b, "# %s: %s (hidden)\n", s.Key, state)
			continue
		}
		line, err := valueLine(s)
		if err != nil {
			return err
		}
		if origins {
			line += "  # " + l.Origin(s.Key)
		}
		b.WriteString(line + "\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

func valueLine(s *Setting) (string, error) {
	var v any = s.Value.String()
	switch s.Value.Kind() {
	case KindInt:
		n, err := strconv.ParseInt(s.Value.String(), 10, 64)
		if err != nil {
			return "", err
		}
		v = n
	case KindBool:
		v = s.Value.String() == "true"
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(map[string]any{s.Key: v}); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// Given returns flags that reproduce the settings given by flag or
// environment (not the file's, not secrets), for a service's command line.
func (l *Loader) Given() []string {
	var out []string
	if l.file != "" {
		file := l.file
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
		out = append(out, "--config="+file)
	}
	for i := range l.Settings {
		s := &l.Settings[i]
		o := l.Origin(s.Key)
		if s.Secret || !(strings.HasPrefix(o, "$") || strings.HasPrefix(o, "--")) {
			continue
		}
		out = append(out, "--"+s.Flag()+"="+s.Value.String())
	}
	return out
}
