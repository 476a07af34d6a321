// Package apperr is the one application error type of Attesta: a code that
// callers and transports branch on, and a message that is safe to show a user.
// Any other error is an internal error: logged in full, shown as "internal error".
package apperr

import (
	"errors"
	"fmt"
	"net/http"
)

// Codes. HTTP statuses and wire codes map from these in one place each.
const (
	EINVALID      = "invalid"      // the input is wrong; the message says what
	ENOTFOUND     = "not_found"    // the thing asked for does not exist
	ECONFLICT     = "conflict"     // the request contradicts stored state
	EUNAUTHORIZED = "unauthorized" // no or unknown credentials
	EFORBIDDEN    = "forbidden"    // known credentials, not allowed (revoked, wrong scope)
	EGONE         = "gone"         // existed once, no longer usable (used or expired code)
	ETOOLARGE     = "too_large"    // over a size limit
	EUNAVAILABLE  = "unavailable"  // try again later
	EINTERNAL     = "internal"     // a bug or an I/O failure; details are only logged
)

// Error is an application error with a user-safe message.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("attesta error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Code returns the code of the application error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func Code(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// Message returns the user-safe message of err: the application error's own,
// or "internal error" for anything else.
func Message(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "internal error"
	}
}

// HTTPStatus is the HTTP status for a code: the one place the mapping lives.
func HTTPStatus(code string) int {
	switch code {
	case EINVALID:
		return http.StatusBadRequest
	case EUNAUTHORIZED:
		return http.StatusUnauthorized
	case EFORBIDDEN:
		return http.StatusForbidden
	case ENOTFOUND:
		return http.StatusNotFound
	case ECONFLICT:
		return http.StatusConflict
	case EGONE:
		return http.StatusGone
	case ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
