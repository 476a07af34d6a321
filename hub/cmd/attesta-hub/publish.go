package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
)

// The commands head office publishes configuration with. Each change is
// one new snapshot in the config log; running hubs push it to connected
// collectors within seconds, and the others get it at their next sync.

func noticeCmd(ctx context.Context, cmd string, args []string, stdout io.Writer) error {
	fs, data, l := flags(cmd)
	if cmd == "notice list" {
		asJSON := fs.Bool("json", false, "print JSON")
		st, err := parseAndOpen(ctx, fs, l, args, data)
		if err != nil {
			return err
		}
		defer st.Close()
		vs, err := st.NoticeVersions(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			for i := range vs {
				vs[i].Text = ""
			}
			return json.NewEncoder(stdout).Encode(map[string]any{"notices": vs})
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tVERSION\tLANGUAGE\tSTATUS\tSHA256\tPUBLISHED\tTITLE")
		for _, v := range vs {
			status := "replaced"
			if v.Active {
				status = "active"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Version, v.Language, status, v.SHA256[:12],
				v.PublishedAt.Local().Format(time.DateTime), v.Title)
		}
		return tw.Flush()
	}

	id := fs.String("id", "", "notice id, one per language, e.g. privacy-it (required)")
	version := fs.Int("version", 0, "version number, newer than the last published for this id (required)")
	lang := fs.String("language", "", "two-letter language of the text, e.g. it (required)")
	title := fs.String("title", "", "title (default: the file's first '# ' heading)")
	summary := fs.String("summary", "", "the short first layer the kiosk shows above the full text (default: the previous version's)")
	if err := l.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return apperr.Errorf(apperr.EINVALID, "notice publish takes one Markdown file: attesta-hub notice publish FILE.md --id ID --version N --language LL")
	}
	for name, v := range map[string]bool{"--id": *id == "", "--version": *version == 0, "--language": *lang == ""} {
		if v {
			return apperr.Errorf(apperr.EINVALID, "%s is required", name)
		}
	}
	text, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return apperr.Errorf(apperr.EINVALID, "cannot read the notice text: %v", err)
	}
	if *title == "" {
		*title = firstHeading(string(text))
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	if *summary == "" {
		cur, err := st.Catalog(ctx)
		if err != nil {
			return err
		}
		if last, ok := cur.Latest(*id); ok {
			*summary = last.Summary
		}
	}
	cat, err := st.PublishNotice(ctx, catalog.Notice{ID: *id, Version: *version, Language: *lang, Title: *title, Summary: *summary, Text: string(text)})
	if err != nil {
		return err
	}
	n, _ := cat.Notice(*id, *version)
	fmt.Fprintf(stdout, "published notice %s version %d (%s, sha256 %s) as config %d; collectors get it at their next sync\n",
		n.ID, n.Version, n.Language, n.SHA256, cat.Seq)
	return nil
}

// firstHeading is the text of the first Markdown "# " heading, or "".
func firstHeading(md string) string {
	for line := range strings.SplitSeq(md, "\n") {
		if h, ok := strings.CutPrefix(strings.TrimSpace(line), "# "); ok {
			return strings.TrimSpace(h)
		}
	}
	return ""
}

// texts is a repeatable --text LANG=TITLE[|DESCRIPTION] flag.
type texts map[string]catalog.Text

func (t texts) String() string { return "" }

func (t texts) Set(v string) error {
	lang, rest, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want LANG=TITLE or LANG=TITLE|DESCRIPTION, got %q", v)
	}
	title, desc, _ := strings.Cut(rest, "|")
	t[strings.TrimSpace(lang)] = catalog.Text{Title: strings.TrimSpace(title), Description: strings.TrimSpace(desc)}
	return nil
}

// set reports whether the flag name was given on the command line.
func set(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

func purposeCmd(ctx context.Context, cmd string, args []string, stdout io.Writer) error {
	fs, data, l := flags(cmd)
	if cmd == "purpose list" {
		st, err := parseAndOpen(ctx, fs, l, args, data)
		if err != nil {
			return err
		}
		defer st.Close()
		cat, err := st.Catalog(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CODE\tDPV\tCATEGORY\tLEGAL BASIS\tRETENTION DAYS\tLANGUAGES")
		for _, p := range cat.Purposes {
			langs := make([]string, 0, len(p.Text))
			for l := range p.Text {
				langs = append(langs, l)
			}
			sort.Strings(langs)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", p.Code, p.DPV, p.Category, p.LegalBasis, p.RetentionDays, strings.Join(langs, ","))
		}
		return tw.Flush()
	}
	create := cmd == "purpose add"
	dpv := fs.String("dpv", "", "DPV purpose term, e.g. dpv:DirectMarketing (required to add)")
	category := fs.String("category", "", "marketing, profiling, … (profiling defaults to 365 days' retention, the rest to 730)")
	basis := fs.String("legal-basis", "dpv:Consent", "DPV legal basis")
	retention := fs.Int("retention-days", 0, fmt.Sprintf("how long a consent lasts, 1 to %d days (default 730, profiling 365)", catalog.MaxRetentionDays))
	tx := texts{}
	fs.Var(tx, "text", "LANG=TITLE|DESCRIPTION as the kiosk shows it, once per language (e.g. --text 'it=Newsletter|Email con novità')")
	if err := l.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return apperr.Errorf(apperr.EINVALID, "%s takes one purpose code, e.g. attesta-hub %s events --dpv dpv:DirectMarketing --text 'it=Eventi'", cmd, cmd)
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	code := fs.Arg(0)
	var cat *catalog.Catalog
	var p catalog.Purpose
	if create {
		p = catalog.Purpose{Code: code, DPV: *dpv, LegalBasis: *basis, Category: *category, RetentionDays: *retention, Text: tx}
		if !set(fs, "retention-days") {
			p.RetentionDays = 730 // Garante, 24 Feb 2005: marketing data at most 24 months
			if p.Category == "profiling" {
				p.RetentionDays = 365 // and profiling data at most 12
			}
		}
		cat, err = st.PutPurpose(ctx, p, true)
	} else {
		// Only the flags given change, merged inside the store's transaction.
		cat, err = st.EditPurpose(ctx, code, func(old *catalog.Purpose) error {
			for flagName, f := range map[string]func(){
				"dpv": func() { old.DPV = *dpv }, "legal-basis": func() { old.LegalBasis = *basis },
				"category": func() { old.Category = *category }, "retention-days": func() { old.RetentionDays = *retention },
			} {
				if set(fs, flagName) {
					f()
				}
			}
			if old.Text == nil {
				old.Text = map[string]catalog.Text{}
			}
			for l, t := range tx {
				old.Text[l] = mergeText(old.Text[l], t)
			}
			p = *old
			return nil
		})
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s purpose %s (retention %d days) as config %d; collectors get it at their next sync\n",
		map[bool]string{true: "added", false: "updated"}[create], p.Code, p.RetentionDays, cat.Seq)
	return nil
}

// mergeText keeps the old title or description where the new one is empty.
func mergeText(old, given catalog.Text) catalog.Text {
	if given.Title == "" {
		given.Title = old.Title
	}
	if given.Description == "" {
		given.Description = old.Description
	}
	return given
}

func touchpointCmd(ctx context.Context, cmd string, args []string, stdout io.Writer) error {
	fs, data, l := flags(cmd)
	create := cmd == "touchpoint add"
	name := fs.String("name", "", "the name people and reports see (required to add)")
	kind := fs.String("kind", catalog.Collect, "ctp (collect), etp (engage) or rtp (right); fixed once added")
	country := fs.String("country", "", "ISO 3166 two-letter country, the default region for phone numbers, e.g. IT")
	lang := fs.String("language", "", "two-letter default language of kiosks here, e.g. it")
	location := fs.String("location", "", "address or place")
	if err := l.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return apperr.Errorf(apperr.EINVALID, "%s takes one touchpoint id, e.g. attesta-hub %s store-napoli --name 'Store Napoli' --kind ctp", cmd, cmd)
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	t := catalog.Touchpoint{ID: fs.Arg(0)}
	apply := func(t *catalog.Touchpoint) error {
		for _, f := range []struct {
			flag      string
			from, set *string
		}{{"name", name, &t.Name}, {"kind", kind, &t.Kind}, {"country", country, &t.Country}, {"language", lang, &t.Language}, {"location", location, &t.Location}} {
			if create || set(fs, f.flag) {
				*f.set = strings.TrimSpace(*f.from)
			}
		}
		return nil
	}
	var cat *catalog.Catalog
	if create {
		apply(&t)
		cat, err = st.PutTouchpoint(ctx, t, true)
	} else {
		cat, err = st.EditTouchpoint(ctx, t.ID, func(old *catalog.Touchpoint) error { apply(old); t = *old; return nil })
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s touchpoint %s (%s) as config %d\n", map[bool]string{true: "added", false: "updated"}[create], t.ID, t.Kind, cat.Seq)
	return nil
}
