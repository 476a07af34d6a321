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
		"replaced":     "This version has since been replaced; it stays here as published. The current one:",
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
		"replaced":     "Questa versione è stata sostituita; resta qui come pubblicata. Quella in vigore:",
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
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		if err := r.ParseForm(); err != nil {
			Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "malformed form"))
			return
		}
		rec, err = s.Store.Withdraw(r.Context(), token, r.PostForm["purpose"], "receipt-page")
		if err == nil {
			s.Logger.Info("withdrawal recorded", "consent", rec.ConsentID, "channel", "receipt-page")
			http.Redirect(w, r, r.URL.Path+"?done=1", http.StatusSeeOther)
			return
		}
	} else {
		rec, err = s.Store.Receipt(r.Context(), token)
	}
	if err != nil && apperr.Code(err) != apperr.ENOTFOUND {
		Error(w, r, s.Logger, err)
		return
	}
	if rec != nil && lang == "" {
		lang = rec.Language
	}
	lang, t := words(lang)
	data := map[string]any{"Lang": lang, "T": t, "Title": t["receipt"], "Controller": s.controller(r), "Pending": rec == nil,
		"R": rec, "Done": r.URL.Query().Get("done") != "", "WithdrawURL": r.URL.Path}
	status := http.StatusOK
	if rec == nil {
		status = http.StatusNotFound
	} else {
		data["NoticeURL"] = "/n/" + url.PathEscape(rec.Notice.ID) + "/" + strconv.Itoa(rec.Notice.Version) + "?sha256=" + rec.Notice.SHA256
	}
	s.render(w, status, "receipt.html", data)
}
