package lecture

import (
	"errors"
	"fmt"
)

// Error codes. Only the edges (HTTP, CLI) map them to status codes.
const (
	EINVALID     = "invalid"
	ENOTFOUND    = "not_found"
	EUNAVAILABLE = "unavailable"
	EINTERNAL    = "internal"
	ETOOLARGE    = "too_large" // a kind of invalid that HTTP reports as 413
	ECONFLICT    = "conflict"  // e.g. a lecture that is still processing
	EUNSUPPORTED = "unsupported_media_type"
)

// Error is the one error type of the domain: a code and a message for people.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Err     error  `json:"-"` // cause, for logs
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with code and message that keeps err as its cause.
func Wrap(code string, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL otherwise.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of err's *Error, or a generic one.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
