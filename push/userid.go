package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// ErrInvalidUserID reports a userId that is neither a JSON number nor a non-empty JSON string.
var ErrInvalidUserID = errors.New("userId must be a number or a non-empty string")

// maxUserIDLen bounds the stored form of a userId, so that a client cannot make the server keep
// arbitrarily large keys.
const maxUserIDLen = 256

// ParseUserID turns a userId as it arrives in JSON (admin body or a client's auth event) into
// the one key the hub uses. 5 and "5" are the same user, as they were in the original, which
// compared String(userId): numbers are written the way JavaScript's String() writes them.
func ParseUserID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", ErrInvalidUserID
	}
	switch raw[0] {
	case '"':
		if s, ok := plainString(raw); ok {
			return CheckUserID(s)
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", ErrInvalidUserID
		}
		return CheckUserID(s)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if plainInteger(raw) {
			return string(raw), nil // String() of an integer below 2^53 is its digits
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return "", ErrInvalidUserID
		}
		return jsNumberString(f), nil
	}
	return "", ErrInvalidUserID
}

// plainString returns the text of a JSON string that has no escapes, control characters or
// invalid UTF-8: what json.Unmarshal would return, without its reflection (the common
// case, decoded once per message).
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// plainInteger reports whether raw is an integer JavaScript writes back digit for digit:
// an optional minus, no leading zero, at most 15 digits (exact in a float64), and not -0.
func plainInteger(raw []byte) bool {
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 15 || (digits[0] == '0' && (len(digits) > 1 || len(raw) > 1)) {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// CheckUserID validates a userId that is already a string (e.g. from a query or a decoded value).
func CheckUserID(s string) (string, error) {
	if s == "" {
		return "", ErrInvalidUserID
	}
	if len(s) > maxUserIDLen {
		return "", fmt.Errorf("userId longer than %d bytes", maxUserIDLen)
	}
	return s, nil
}

// jsNumberString writes f as JavaScript's String(f) does for the values a userId can take:
// integers without a fraction, and plain decimals otherwise (1e21 and beyond in exponent form).
func jsNumberString(f float64) string {
	if f == 0 {
		return "0" // String(-0) is "0"
	}
	if math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // 1e+21, as JavaScript writes it
	return s
}

// ParseHash reads a hash as it arrives in JSON: a non-empty string, or a number written as
// JavaScript's String() writes it, since the original compared String(hash).
func ParseHash(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, s != ""
	}
	n, err := ParseUserID(raw)
	return n, err == nil
}
