package http

import (
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// messages are the public pages' words, by language.
var messages = map[string]map[string]string{
	"en": {
		"version": "Version", "mismatch": "This is not the version your link points to: the text was changed since. The version below is the one published under this number.",
		"hashnote": "The fingerprint of the exact text above. Your consent record carries the same fingerprint, which proves this is the text you were shown.",
		"receipt":  "Your consent receipt", "pending": "Your consent has not reached head office yet.",
		"pendingmore": "The kiosk sends it as soon as it is online, usually within minutes. Please open this page again later. (If it never appears, check that the link is complete.)",
		"when":        "When", "where": "Where", "notice": "Privacy notice", "record": "Record", "choices": "Your choices",
		"state_yes": "Given", "state_no": "Not given", "state_withdrawn": "Withdrawn", "withdraw": "Withdraw",
		"withdrawnote": "Withdrawing takes effect at once for every future contact; it does not affect what happened before.",
		"withdrawn_ok": "Done: your withdrawal is recorded.",
		"yourdata":     "Your data", "yourdatanote": "You can ask for a copy of the data held about you, or for it to be erased. The controller answers within one month.",
		"ask_access": "Ask for a copy of my data", "ask_erasure": "Ask to erase my data",
		"asked_ok": "Request received. We will answer within one month.",
		"erased":   "The personal data of this consent was erased at head office.",
		"replaced": "This version has since been replaced; it stays here as published. The current one:",
	},
	"it": {
		"version": "Versione", "mismatch": "Questa non è la versione indicata dal tuo link: il testo è cambiato. Qui sotto trovi la versione pubblicata con questo numero.",
		"hashnote": "L'impronta del testo esatto qui sopra. La registrazione del tuo consenso riporta la stessa impronta: prova che è il testo che ti è stato mostrato.",
		"receipt":  "La ricevuta del tuo consenso", "pending": "Il tuo consenso non è ancora arrivato in sede.",
		"pendingmore": "Il dispositivo lo invia appena è online, di solito entro pochi minuti. Riapri questa pagina più tardi. (Se non compare mai, controlla che il link sia completo.)",
		"when":        "Quando", "where": "Dove", "notice": "Informativa privacy", "record": "Registrazione", "choices": "Le tue scelte",
		"state_yes": "Dato", "state_no": "Non dato", "state_withdrawn": "Revocato", "withdraw": "Revoca",
		"withdrawnote": "La revoca vale subito per ogni contatto futuro; non tocca quanto avvenuto prima.",
		"withdrawn_ok": "Fatto: la tua revoca è registrata.",
		"yourdata":     "I tuoi dati", "yourdatanote": "Puoi chiedere una copia dei dati che ti riguardano, oppure la loro cancellazione. Il titolare risponde entro un mese.",
		"ask_access": "Chiedi una copia dei miei dati", "ask_erasure": "Chiedi la cancellazione dei miei dati",
		"asked_ok": "Richiesta ricevuta. Ti risponderemo entro un mese.",
		"erased":   "I dati personali di questo consenso sono stati cancellati in sede.",
		"replaced": "Questa versione è stata sostituita; resta qui come pubblicata. Quella in vigore:",
	},
}

func words(lang string) (string, map[string]string) {
	if m, ok := messages[lang]; ok {
		return lang, m
	}
	return "en", messages["en"]
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data map[string]any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.Logger.Error("render page", "page", name, "err", err)
	}
}

// noticePage shows a notice version and its hash: what a visitor's phone
// opens from the kiosk's QR code.
func (s *Server) noticePage(w http.ResponseWriter, r *http.Request) {
	version, err := strconv.Atoi(r.PathValue("version"))
	if err != nil {
		Error(w, r, s.Logger, apperr.Errorf(apperr.ENOTFOUND, "no such notice"))
		return
	}
	n, err := s.Store.Notice(r.Context(), r.PathValue("id"), version)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	lang, t := words(n.Language)
	want := r.URL.Query().Get("sha256")
	data := map[string]any{"Lang": lang, "T": t, "Title": n.Title, "Notice": n,
		"Mismatch": want != "" && want != n.SHA256, "Controller": s.controller(r)}
	if cat, err := s.Store.Catalog(r.Context()); err == nil {
		if cur, ok := cat.Latest(n.ID); ok && cur.Version > n.Version {
			data["Current"] = cur
			data["CurrentURL"] = "/n/" + url.PathEscape(cur.ID) + "/" + strconv.Itoa(cur.Version) + "?sha256=" + cur.SHA256
		}
	}
	s.render(w, http.StatusOK, "notice.html", data)
}

func (s *Server) controller(r *http.Request) catalog.Controller {
	if c, err := s.Store.Catalog(r.Context()); err == nil {
		return c.Controller
	}
	return catalog.Controller{}
}

// receiptPage shows a visitor's consent and lets them withdraw per purpose.
// The token in the path is the only credential: it is unguessable and only
// the visitor ever had it (it travels sealed from the kiosk).
func (s *Server) receiptPage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	lang := r.URL.Query().Get("lang")
	var rec *hub.Receipt
	var err error
	if r.Method == http.MethodPost {
		if !sameOrigin(r) {
			Error(w, r, s.Logger, apperr.Errorf(apperr.EFORBIDDEN, "cross-site form posts are refused; use the form on this page"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		if err := r.ParseForm(); err != nil {
			Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "malformed form"))
			return
		}
		if kind := r.PostForm.Get("request"); kind != "" {
			var req *hub.Request
			req, err = s.Store.RequestFromReceipt(r.Context(), token, hub.RequestKind(kind))
			if err == nil {
				s.Logger.Info("rights request received", "request", req.ID, "kind", req.Kind, "channel", req.Channel)
				http.Redirect(w, r, r.URL.Path+"?asked="+url.QueryEscape(kind), http.StatusSeeOther)
				return
			}
			if apperr.Code(err) != apperr.EGONE {
				Error(w, r, s.Logger, err)
				return
			}
		} else {
			rec, err = s.Store.Withdraw(r.Context(), token, r.PostForm["purpose"], "receipt-page")
			if err == nil {
				s.Logger.Info("withdrawal recorded", "consent", rec.ConsentID, "channel", "receipt-page")
				http.Redirect(w, r, r.URL.Path+"?done=1", http.StatusSeeOther)
				return
			}
		}
	} else {
		rec, err = s.Store.Receipt(r.Context(), token)
	}
	erased := apperr.Code(err) == apperr.EGONE
	if err != nil && apperr.Code(err) != apperr.ENOTFOUND && !erased {
		Error(w, r, s.Logger, err)
		return
	}
	if erased && rec != nil && lang == "" {
		lang = rec.Language
	}
	if err != nil {
		rec = nil
	}
	if rec != nil && lang == "" {
		lang = rec.Language
	}
	lang, t := words(lang)
	data := map[string]any{"Lang": lang, "T": t, "Title": t["receipt"], "Controller": s.controller(r), "Pending": rec == nil && !erased,
		"Erased": erased, "R": rec, "Done": r.URL.Query().Get("done") != "", "Asked": r.URL.Query().Get("asked") != "", "WithdrawURL": r.URL.Path}
	status := http.StatusOK
	switch {
	case erased:
		status = http.StatusGone
	case rec == nil:
		status = http.StatusNotFound
	default:
		data["NoticeURL"] = "/n/" + url.PathEscape(rec.Notice.ID) + "/" + strconv.Itoa(rec.Notice.Version) + "?sha256=" + rec.Notice.SHA256
	}
	s.render(w, status, "receipt.html", data)
}

// sameOrigin refuses form posts another site's page makes. Browsers send
// Sec-Fetch-Site (which they alone can set) and it decides. Without it,
// Origin does, except "null": this page's no-referrer policy makes
// browsers send that on its own posts. A post with neither (a script, an
// old browser) is let through: the unguessable token in the path is what
// authorises it; this check only stops another site from replaying it.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}
