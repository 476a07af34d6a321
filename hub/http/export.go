package http

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/record"
)

var csvHeader = []string{"cursor", "id", "kind", "collector", "epoch", "seq", "touchpoint", "operator", "language",
	"captured_at", "hlc", "received_at", "corrected_at", "clock_offset_ms", "flags", "notice_id", "notice_version",
	"notice_sha256", "granted", "refused", "ref", "given_name", "family_name", "email", "phone", "signature_sha256", "hash"}

// writeCSV writes events as CSV: one row per event, purposes as
// semicolon-separated codes.
func writeCSV(w io.Writer, evs []hub.Event) error {
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	for _, ev := range evs {
		var granted, refused []string
		for _, c := range ev.Purposes {
			if c.Granted && ev.Kind != record.Withdrawn {
				granted = append(granted, c.Purpose)
			} else {
				refused = append(refused, c.Purpose)
			}
		}
		var subj record.Subject
		if ev.Subject != nil {
			subj = *ev.Subject
		}
		row := []string{strconv.FormatInt(ev.Cursor, 10), ev.ID, string(ev.Kind), ev.Collector, ev.Epoch, strconv.FormatUint(ev.Seq, 10),
			ev.Touchpoint, ev.Operator, ev.Language, ev.CapturedAt, ev.HLC, hub.FormatTime(ev.ReceivedAt), hub.FormatTime(ev.CorrectedAt),
			strconv.FormatInt(ev.ClockOffsetMS, 10), strings.Join(ev.Flags, ";"), ev.Notice.ID, strconv.Itoa(ev.Notice.Version),
			ev.Notice.SHA256, strings.Join(granted, ";"), strings.Join(refused, ";"), ev.Ref,
			subj.GivenName, subj.FamilyName, subj.Email, subj.Phone, ev.SignatureHash, ev.Hash}
		for i, v := range row {
			row[i] = cellSafe(v)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

var plainNumber = regexp.MustCompile(`^[+-]?[0-9][0-9 .]*$`)

// cellSafe keeps a spreadsheet from running what a visitor typed as a
// formula (CSV injection): text starting with = + - @ or a control
// character gets a leading apostrophe, unless it is just a number.
func cellSafe(v string) string {
	if v == "" || !strings.ContainsAny(v[:1], "=+-@\t\r") || plainNumber.MatchString(v) {
		return v
	}
	return "'" + v
}

// Kantara Consent Receipt v1.1 (https://kantarainitiative.org/download/7902/),
// the fields Attesta can fill from a record.
type kantaraReceipt struct {
	Version            string           `json:"version"`
	Jurisdiction       string           `json:"jurisdiction"`
	ConsentTimestamp   int64            `json:"consentTimestamp"`
	CollectionMethod   string           `json:"collectionMethod"`
	ConsentReceiptID   string           `json:"consentReceiptID"`
	PublicKey          string           `json:"publicKey,omitempty"`
	Language           string           `json:"language"`
	PIIPrincipalID     string           `json:"piiPrincipalId"`
	PIIControllers     []kantaraCtrl    `json:"piiControllers"`
	PolicyURL          string           `json:"policyUrl"`
	Services           []kantaraService `json:"services"`
	Sensitive          bool             `json:"sensitive"`
	SPICat             []string         `json:"spiCat"`
	NoticeSHA256       string           `json:"x-attesta-noticeSha256"`
	RecordHash         string           `json:"x-attesta-recordSha256"`
	Touchpoint         string           `json:"x-attesta-touchpoint"`
	Collector          string           `json:"x-attesta-collector"`
	SignatureSHA256    string           `json:"x-attesta-signatureSha256,omitempty"`
	WithdrawalChannels []string         `json:"x-attesta-withdrawal"`
}

type kantaraCtrl struct {
	PIIController string `json:"piiController"`
	Contact       string `json:"contact"`
	Email         string `json:"email"`
	OnBehalf      bool   `json:"onBehalf"`
}

type kantaraService struct {
	Service  string           `json:"service"`
	Purposes []kantaraPurpose `json:"purposes"`
}

type kantaraPurpose struct {
	Purpose              string   `json:"purpose"`
	PurposeCategory      []string `json:"purposeCategory"`
	ConsentType          string   `json:"consentType"`
	PIICategory          []string `json:"piiCategory"`
	PrimaryPurpose       bool     `json:"primaryPurpose"`
	Termination          string   `json:"termination"`
	ThirdPartyDisclosure bool     `json:"thirdPartyDisclosure"`
}

// writeReceipts writes a Kantara-shaped consent receipt for each consent
// (kind given) among evs, as NDJSON.
func writeReceipts(w io.Writer, evs []hub.Event, cat *catalog.Catalog, base string) error {
	enc := json.NewEncoder(w)
	for _, ev := range evs {
		if ev.Kind != record.Given {
			continue
		}
		rc := kantaraReceipt{Version: "KI-CR-v1.1.0", Jurisdiction: cat.Jurisdiction, ConsentTimestamp: ev.CorrectedAt.Unix(),
			CollectionMethod: "in person, signed on kiosk " + ev.Collector + " at touchpoint " + ev.Touchpoint,
			ConsentReceiptID: ev.ID, Language: ev.Language,
			PIIControllers: []kantaraCtrl{{PIIController: cat.Controller.Name, Contact: cat.Controller.Contact, Email: cat.Controller.Contact}},
			PolicyURL:      base + "/n/" + ev.Notice.ID + "/" + strconv.Itoa(ev.Notice.Version) + "?sha256=" + ev.Notice.SHA256,
			SPICat:         []string{}, NoticeSHA256: ev.Notice.SHA256, RecordHash: ev.Hash, Touchpoint: ev.Touchpoint,
			Collector: ev.Collector, SignatureSHA256: ev.SignatureHash,
			WithdrawalChannels: []string{"the receipt page linked from the visitor's QR code", cat.Controller.Contact}}
		if ev.Subject != nil {
			rc.PIIPrincipalID = ev.Subject.Email
		}
		svc := kantaraService{Service: cat.Controller.Name + " marketing", Purposes: []kantaraPurpose{}}
		for _, c := range ev.Purposes {
			if !c.Granted {
				continue
			}
			title := c.Purpose
			if p, ok := cat.Purpose(c.Purpose); ok {
				if t, ok := p.Text[ev.Language]; ok {
					title = t.Title
				}
			}
			svc.Purposes = append(svc.Purposes, kantaraPurpose{Purpose: title, PurposeCategory: []string{c.DPV}, ConsentType: "EXPLICIT",
				PIICategory: []string{"name", "email", "phone", "handwritten signature"},
				Termination: "after " + strconv.Itoa(c.RetentionDays) + " days, or on withdrawal", ThirdPartyDisclosure: c.Purpose == "third_party"})
		}
		rc.Services = []kantaraService{svc}
		if err := enc.Encode(rc); err != nil {
			return err
		}
	}
	return nil
}
