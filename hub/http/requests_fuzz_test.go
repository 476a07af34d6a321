package http

import (
	"testing"

	"github.com/attesta/attesta/shared/apperr"
)

// FuzzDecodeNewRequest: any body either decodes into a request with a kind
// or is refused as invalid, never anything else.
func FuzzDecodeNewRequest(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"access","email":"a@b.it","channel":"api"}`,
		`{"kind":"rectification","phone":"3331234567","details":"my name is Anna"}`,
		`{"kind":"erasure","subject_id":"01a2"}{"kind":"access"}`,
		`{"kind":"access","extra":1}`, `{"kind":""}`, `[]`, `nul`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		nr, err := DecodeNewRequest(body)
		if err != nil {
			if apperr.Code(err) != apperr.EINVALID {
				t.Fatalf("refused with %s: %v", apperr.Code(err), err)
			}
			return
		}
		if nr.Kind == "" {
			t.Fatalf("decoded without a kind: %+v", nr)
		}
	})
}

// FuzzDecodeRequestAction: any body either decodes into ids and an action
// by someone, or is refused as invalid.
func FuzzDecodeRequestAction(f *testing.F) {
	for _, seed := range []string{
		`{"ids":["a","b"],"action":"complete"}`,
		`{"ids":[],"action":"start"}`,
		`{"ids":["a"],"action":"refuse","note":"unfounded","by":"dpo"}`,
		`{"ids":"a"}`, `{"ids":[1]}`, `{}`, `x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ids, act, err := DecodeRequestAction(body)
		if err != nil {
			if apperr.Code(err) != apperr.EINVALID {
				t.Fatalf("refused with %s: %v", apperr.Code(err), err)
			}
			return
		}
		if len(ids) == 0 || act.By == "" || len(act.By) > 100 {
			t.Fatalf("decoded %v %+v", ids, act)
		}
	})
}
