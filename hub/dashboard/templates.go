package dashboard

import (
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"time"
)

// funcs are the templates' helpers; times show in the zone loc returns
// (the controller's, read at each render).
func funcs(loc func() *time.Location) template.FuncMap {
	return template.FuncMap{
		"when": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				if v.IsZero() {
					return "—"
				}
				return v.In(loc()).Format("2 Jan 2006 15:04")
			case *time.Time:
				if v == nil || v.IsZero() {
					return "never"
				}
				return v.In(loc()).Format("2 Jan 2006 15:04")
			}
			return fmt.Sprint(t)
		},
		"day": func(t time.Time) string { return t.Format("Mon 2 Jan 2006") },
		"ago": func(t *time.Time) string {
			if t == nil {
				return "never"
			}
			d := time.Since(*t)
			switch {
			case d < time.Minute:
				return "just now"
			case d < time.Hour:
				return fmt.Sprintf("%d min ago", int(d/time.Minute))
			case d < 48*time.Hour:
				return fmt.Sprintf("%d h ago", int(d/time.Hour))
			}
			return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
		},
		"short": func(s string) string {
			if len(s) > 8 {
				return s[:8]
			}
			return s
		},
		"title": func(s string) string {
			s = strings.ReplaceAll(s, "_", " ")
			if s == "" {
				return s
			}
			return strings.ToUpper(s[:1]) + s[1:]
		},
		"add": func(a, b int) int { return a + b },
		"abs": func(a int) int {
			if a < 0 {
				return -a
			}
			return a
		},
		"offset": func(ms int64) string {
			d := time.Duration(ms) * time.Millisecond
			if d < 0 {
				return "-" + (-d).Round(time.Second).String()
			}
			return "+" + d.Round(time.Second).String()
		},
	}
}

// parsePages parses each page with the layout: every page defines
// "content", the layout calls it.
func parsePages(fm template.FuncMap) map[string]*template.Template {
	out := map[string]*template.Template{}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" || base == "partials.html" {
			continue
		}
		out[base] = template.Must(template.New(base).Funcs(fm).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", n))
	}
	return out
}
