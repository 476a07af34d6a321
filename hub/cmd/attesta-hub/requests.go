package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/config"
)

// storeFlags is the flag set of a command that opens the store with the
// settings rights requests and retention use.
func storeFlags(name string) (*flagSet, *Config) {
	fs := newFlagSet(name)
	c := NewConfig()
	l := c.Loader()
	l.Bind(fs, "data", "time_zone", "retention_grace")
	return &flagSet{FlagSet: fs, l: l}, &c
}

func (c *Config) open(ctx context.Context) (*sqlite.Store, error) {
	st, err := openStore(ctx, c.DataDir)
	if err != nil {
		return nil, err
	}
	if err := c.applyTo(st); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func requestCmd(ctx context.Context, cmd string, args []string, stdin io.Reader, stdout io.Writer) error {
	fs, c := storeFlags(cmd)
	asJSON := fs.Bool("json", false, "print JSON")
	var (
		states, kind, email, phone, subject, details, channel, by, action, note, after, out *string
		limit                                                                               *int
	)
	switch cmd {
	case "request list":
		states = fs.String("state", "", "comma-separated states (default open,in_progress): open, in_progress, done, refused")
		kind = fs.String("kind", "", "only this kind")
		limit = fs.Int("limit", 100, "at most this many (1-1000)")
		after = fs.String("after", "", "continue after this next_after cursor, or this request id")
	case "request create":
		kind = fs.String("kind", "", "access, erasure, portability, objection or rectification")
		email = fs.String("email", "", "the person's email")
		phone = fs.String("phone", "", "the person's phone")
		subject = fs.String("subject", "", "the subject id, instead of email or phone")
		details = fs.String("details", "", "what the person asked, in their words (rectification: the correction)")
		channel = fs.String("channel", "dashboard", "how it arrived: dashboard, api, letter, …")
		by = fs.String("by", "cli", "who records it")
	case "request act":
		action = fs.String("action", "", "start, extend, complete, refuse or note")
		note = fs.String("note", "", "the reason (required for extend, refuse and note)")
		by = fs.String("by", "cli", "who acts")
	case "request export":
		out = fs.String("out", "", "write the export to this file (default stdout)")
	}
	if err := fs.parse(args); err != nil {
		return err
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	switch cmd {
	case "request list":
		f := hub.RequestFilter{Kind: hub.RequestKind(*kind), Limit: *limit, After: *after}
		for _, s := range strings.Split(*states, ",") {
			if s = strings.TrimSpace(s); s != "" {
				f.States = append(f.States, hub.RequestState(s))
			}
		}
		rs, err := st.Requests(ctx, f)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, rs)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tSTATE\tDUE\tRECEIVED\tCHANNEL\tSUBJECT")
		now := time.Now()
		for _, r := range rs {
			due := r.DueOn.Format("2006-01-02")
			if r.Extended != "" {
				due += " (extended)"
			}
			if !r.State.Closed() && hub.Overdue(r.DueOn, now, st.Location) {
				due += " OVERDUE"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.State, due, r.ReceivedAt.In(st.Location).Format("2006-01-02 15:04"),
				r.Channel, r.SubjectID)
		}
		return tw.Flush()
	case "request show":
		if fs.NArg() != 1 {
			return apperr.Errorf(apperr.EINVALID, "request show takes one request id")
		}
		r, err := st.Request(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, r)
		}
		printRequest(stdout, r, st)
		return nil
	case "request create":
		r, err := st.CreateRequest(ctx, hub.NewRequest{Kind: hub.RequestKind(*kind), Email: *email, Phone: *phone, SubjectID: *subject,
			Details: *details, Channel: *channel, By: *by})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, r)
		}
		fmt.Fprintf(stdout, "request %s (%s) received; due on %s\n", r.ID, r.Kind, r.DueOn.Format("2006-01-02"))
		return nil
	case "request export":
		if fs.NArg() != 1 {
			return apperr.Errorf(apperr.EINVALID, "request export takes one request id")
		}
		x, err := st.RequestExport(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		w := stdout
		if *out != "" {
			f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		return printJSON(w, x)
	}
	// request act: ids as arguments, or "-" for one per line on stdin.
	ids := fs.Args()
	if len(ids) == 1 && ids[0] == "-" {
		ids = nil
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			if id := strings.TrimSpace(sc.Text()); id != "" {
				ids = append(ids, id)
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
	}
	if len(ids) == 0 {
		return apperr.Errorf(apperr.EINVALID, "request act takes request ids as arguments, or - to read them from stdin")
	}
	var outcomes []hub.RequestOutcome
	for i := 0; i < len(ids); i += sqlite.MaxBulk {
		o, err := st.ActOnRequests(ctx, ids[i:min(i+sqlite.MaxBulk, len(ids))], hub.RequestAct{Action: *action, Note: *note, By: *by})
		if err != nil {
			return err
		}
		outcomes = append(outcomes, o...)
	}
	failed := 0
	for _, o := range outcomes {
		if o.Error != "" {
			failed++
		}
	}
	if *asJSON {
		if err := printJSON(stdout, outcomes); err != nil {
			return err
		}
	} else {
		for _, o := range outcomes {
			if o.Error != "" {
				fmt.Fprintf(stdout, "%s\tfailed: %s\n", o.ID, o.Error)
			} else {
				fmt.Fprintf(stdout, "%s\t%s\n", o.ID, o.Request.State)
			}
		}
	}
	if failed > 0 {
		return apperr.Errorf(apperr.ECONFLICT, "%d of %d requests failed", failed, len(outcomes))
	}
	return nil
}

func printRequest(w io.Writer, r *hub.Request, st *sqlite.Store) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\nkind\t%s\nstate\t%s\nidentifier\t%s %s\nsubject\t%s\nchannel\t%s\nreceived\t%s\ndue on\t%s\n",
		r.ID, r.Kind, r.State, r.Identifier.Kind, r.Identifier.Value, r.SubjectID, r.Channel,
		r.ReceivedAt.In(st.Location).Format("2006-01-02 15:04 MST"), r.DueOn.Format("2006-01-02"))
	if r.Extended != "" {
		fmt.Fprintf(tw, "extended\t%s\n", r.Extended)
	}
	if r.Details != "" {
		fmt.Fprintf(tw, "details\t%s\n", r.Details)
	}
	if r.Outcome != "" {
		fmt.Fprintf(tw, "outcome\t%s\n", r.Outcome)
	}
	tw.Flush()
	fmt.Fprintln(w, "\ntrail:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range r.Trail {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.At.In(st.Location).Format("2006-01-02 15:04"), s.By, s.Action, s.State, s.Note)
	}
	tw.Flush()
}

func retentionCmd(ctx context.Context, cmd string, args []string, stdout io.Writer) error {
	fs, c := storeFlags(cmd)
	asJSON := fs.Bool("json", false, "print JSON")
	var dry *bool
	if cmd == "retention run" {
		dry = fs.Bool("dry-run", false, "print what the sweep would do and change nothing")
	}
	if err := fs.parse(args); err != nil {
		return err
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if cmd == "retention runs" {
		runs, err := st.RetentionRuns(ctx, 100)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, runs)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tSTARTED\tBY\tEXPIRED\tANONYMISED")
		for _, r := range runs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\n", r.ID, r.StartedAt.Local().Format(time.DateTime), r.By, r.Expired, r.Anonymised)
		}
		return tw.Flush()
	}
	run, err := st.SweepRetention(ctx, *dry, "cli")
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, run)
	}
	verb := []string{"recorded", "anonymised"}
	if *dry {
		verb = []string{"would record", "would anonymise"}
		fmt.Fprintln(stdout, "dry run: nothing was changed")
	}
	fmt.Fprintf(stdout, "%s %d expired consents\n", verb[0], run.Expired)
	for _, x := range run.Expiries {
		fmt.Fprintf(stdout, "  subject %s  %s  expired %s (grant %s)\n", x.SubjectID, x.Purpose, x.ExpiredAt.Format("2006-01-02"), x.EventID)
	}
	fmt.Fprintf(stdout, "%s %d subjects no purpose justifies any more\n", verb[1], run.Anonymised)
	for _, id := range run.Subjects {
		fmt.Fprintf(stdout, "  subject %s\n", id)
	}
	return nil
}

// flagSet is a command's flags with the settings loader bound to them.
type flagSet struct {
	*flag.FlagSet
	l *config.Loader
}

func (f *flagSet) parse(args []string) error { return f.l.Parse(f.FlagSet, args) }
