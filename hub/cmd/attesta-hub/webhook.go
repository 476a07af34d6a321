package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/dispatch"
	"github.com/attesta/attesta/shared/apperr"
)

// webhookCmd runs "webhook add|list|update|rotate-secret|remove|deliveries|resume|test".
func webhookCmd(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs, data, l := flags(cmd)
	var events, description, url *string
	var failed, skip, asJSON, fromStart *bool
	var limit *int
	var grace *time.Duration
	switch cmd {
	case "webhook update":
		url = fs.String("url", "", "the new URL")
		events = fs.String("events", "", "the new events, comma-separated (replacing the old)")
		description = fs.String("description", "", "the new description")
	case "webhook rotate-secret":
		grace = fs.Duration("grace", 24*time.Hour, "how long the old secret keeps signing deliveries too")
	case "webhook add":
		events = fs.String("events", "", "comma-separated: "+strings.Join(hub.NotifyTypes, ",")+" (or * for all)")
		description = fs.String("description", "", "what the receiver is, e.g. \"CRM (Salesforce)\"")
		fromStart = fs.Bool("from-start", false, "deliver every change kept so far first (an initial load), not only those from now on")
	case "webhook list":
		asJSON = fs.Bool("json", false, "print JSON")
	case "webhook deliveries":
		failed = fs.Bool("failed", false, "only refused deliveries (those that paused the webhook)")
		limit = fs.Int("limit", 50, "how many, newest first")
		asJSON = fs.Bool("json", false, "print JSON")
	case "webhook resume":
		skip = fs.Bool("skip", false, "pass over the refused notification instead of trying it again")
	}
	if err := l.Parse(fs, args); err != nil {
		return err
	}
	wantArgs := 1
	if cmd == "webhook list" {
		wantArgs = 0
	}
	if fs.NArg() != wantArgs {
		what := "a webhook id ('attesta-hub webhook list' shows them)"
		switch cmd {
		case "webhook add":
			what = "the receiver's URL"
		case "webhook list":
			what = "no arguments"
		}
		return apperr.Errorf(apperr.EINVALID, "%s takes %s", cmd, what)
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	switch cmd {
	case "webhook add":
		w, err := st.CreateWebhook(ctx, hub.NewWebhook{URL: fs.Arg(0), Events: strings.Split(*events, ","), Description: *description, FromStart: *fromStart})
		if err != nil {
			return err
		}
		from := "from now on"
		if *fromStart {
			from = "from the start of the change feed"
		}
		fmt.Fprintf(stderr, "Webhook %s added: %s gets %s %s.\nIts signing secret follows; it is shown only this once (receivers verify Attesta-Signature with it).\n",
			w.ID, w.URL, strings.Join(w.Events, ", "), from)
		fmt.Fprintln(stdout, w.Secret)
	case "webhook list":
		ws, err := st.Webhooks(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(ws)
		}
		lags, err := st.WebhookLags(ctx)
		if err != nil {
			return err
		}
		pending := map[string]int64{}
		for _, l := range lags {
			pending[l.ID] = l.Pending
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tEVENTS\tPENDING\tSTATE\tDESCRIPTION")
		for _, w := range ws {
			state := "delivering"
			if w.Paused != nil {
				state = fmt.Sprintf("PAUSED at %d since %s: %s", w.Paused.Seq, w.Paused.At.Local().Format(time.DateTime), w.Paused.Reason)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", w.ID, w.URL, strings.Join(w.Events, ","), pending[w.ID], state, w.Description)
		}
		return tw.Flush()
	case "webhook update":
		var u hub.WebhookUpdate
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "url":
				u.URL = url
			case "events":
				u.Events = strings.Split(*events, ",")
			case "description":
				u.Description = description
			}
		})
		if u.URL == nil && u.Events == nil && u.Description == nil {
			return apperr.Errorf(apperr.EINVALID, "webhook update needs --url, --events or --description")
		}
		w, err := st.UpdateWebhook(ctx, fs.Arg(0), u)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "updated %s: %s gets %s\n", w.ID, w.URL, strings.Join(w.Events, ", "))
	case "webhook rotate-secret":
		w, err := st.RotateWebhookSecret(ctx, fs.Arg(0), *grace)
		if err != nil {
			return err
		}
		if *grace == 0 {
			fmt.Fprintf(stderr, "Webhook %s has a new signing secret, below, shown only this once. The old secrets no longer sign\ndeliveries: the receiver must switch to it now.\n", w.ID)
		} else {
			fmt.Fprintf(stderr, "Webhook %s has a new signing secret, below, shown only this once. Until %s deliveries are signed\nwith the old and the new one, so the receiver can switch to it meanwhile.\n",
				w.ID, w.OldUntil.Local().Format(time.DateTime))
		}
		fmt.Fprintln(stdout, w.Secret)
	case "webhook remove":
		if err := st.DeleteWebhook(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "removed", fs.Arg(0))
	case "webhook deliveries":
		if *limit < 1 || *limit > 10000 {
			return apperr.Errorf(apperr.EINVALID, "--limit must be between 1 and 10000")
		}
		ds, err := st.Deliveries(ctx, fs.Arg(0), *failed, *limit)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(ds)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ATTEMPTED\tEVENT\tTYPE\tTRY\tOUTCOME\tSTATUS\tMS\tERROR")
		for _, d := range ds {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%d\t%d\t%s\n", d.AttemptedAt.Local().Format(time.DateTime), d.Seq, d.Type, d.Attempt,
				d.Outcome, d.StatusCode, d.DurationMS, d.Error)
		}
		return tw.Flush()
	case "webhook resume":
		w, err := st.ResumeWebhook(ctx, fs.Arg(0), *skip)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "resumed %s from notification %d\n", w.ID, w.Cursor+1)
	case "webhook test":
		w, err := st.Webhook(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		d := dispatch.New(st).Test(ctx, w)
		said := map[string]string{hub.DeliveryDelivered: "delivered", hub.DeliveryRetry: "not delivered (a real delivery would be retried)",
			hub.DeliveryFailed: "refused (a real delivery would pause the webhook)"}[d.Outcome]
		fmt.Fprintf(stdout, "%s: %s in %d ms", w.URL, said, d.DurationMS)
		if d.StatusCode != 0 {
			fmt.Fprintf(stdout, " (HTTP %d)", d.StatusCode)
		}
		fmt.Fprintln(stdout)
		if d.Outcome != hub.DeliveryDelivered {
			return apperr.Errorf(apperr.EUNAVAILABLE, "the receiver did not take the test: %s", d.Error)
		}
	}
	return nil
}
