// Package jsontext walks JSON text that encoding/json has already checked, without decoding
// it: where an array's elements and an object's members begin and end, and whether the text
// is already compact. A push server handles the same message text at several steps (the
// admin request, the socket.io packet); each step then costs one pass, not a full decode.
//
// Every function but Compact assumes valid JSON: on other input its result is unspecified
// (but it does not panic or loop).
package jsontext

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// Elements calls fn with each element of an array, in order, and stops at fn's first error.
// isArray is false when v is not an array.
func Elements(v []byte, fn func(i int, elem []byte) error) (isArray bool, err error) {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '[' {
		return false, nil
	}
	i = skipSpace(v, i+1)
	for n := 0; i < len(v) && v[i] != ']'; n++ {
		end := valueEnd(v, i)
		if err := fn(n, v[i:end]); err != nil {
			return true, err
		}
		i = skipSpace(v, end)
		if i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return true, nil
}

// Members calls fn with each member of an object, in order, its key decoded. isObject is
// false when v is not an object.
func Members(v []byte, fn func(key string, val []byte)) (isObject bool) {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '{' {
		return false
	}
	i = skipSpace(v, i+1)
	for i < len(v) && v[i] == '"' {
		kend := valueEnd(v, i)
		if kend < i+2 { // an unterminated key: not JSON
			return true
		}
		name := keyName(v[i:kend])
		i = skipSpace(v, kend)
		if i < len(v) && v[i] == ':' {
			i = skipSpace(v, i+1)
		}
		end := valueEnd(v, i)
		fn(name, v[i:end])
		i = skipSpace(v, end)
		if i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return true
}

// keyName decodes an object key, quotes included. Only a key with escapes or bytes beyond
// ASCII goes through encoding/json (whose result lives on the heap).
func keyName(quoted []byte) string {
	if key := quoted[1 : len(quoted)-1]; plainASCII(key) {
		return string(key)
	}
	var name string
	_ = json.Unmarshal(quoted, &name) // escapes, or UTF-8 to check
	return name
}

// IsCompact reports whether v has no whitespace outside its strings: encoding/json's
// Compact would return it unchanged.
func IsCompact(v []byte) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			i = stringEnd(v, i) - 1
		case ' ', '\t', '\r', '\n':
			return false
		}
	}
	return true
}

// Compact returns a copy of v without insignificant whitespace. A copy, never v itself: a
// kept message must not pin the larger buffer it was cut from. v must be valid JSON.
func Compact(v []byte) []byte {
	if IsCompact(v) {
		return bytes.Clone(v)
	}
	var b bytes.Buffer
	json.Compact(&b, v) // valid JSON: it cannot fail
	return b.Bytes()
}

// Finite returns v with each number too large for a 64-bit float (1e400) written as null,
// which is what JavaScript's JSON.stringify writes for the Infinity that JSON.parse makes of
// it (the original server sent that), and what clients with strict decoders can read: Go's
// encoding/json refuses the whole packet. v itself is returned when it has no such number,
// which is always the case but for hostile or mistaken input.
func Finite(v []byte) []byte {
	var out []byte
	last := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '"' {
			i = stringEnd(v, i) - 1
			continue
		}
		if c != '-' && (c < '0' || c > '9') {
			continue
		}
		end := valueEnd(v, i)
		if overflows(v[i:end]) {
			out = append(append(out, v[last:i]...), "null"...)
			last = end
		}
		i = end - 1
	}
	if out == nil {
		return v
	}
	return append(out, v[last:]...)
}

// overflows reports whether a JSON number is beyond a float64's range. Only one with an
// exponent or more than 308 digits can be.
func overflows(num []byte) bool {
	if len(num) <= 308 && bytes.IndexAny(num, "eE") < 0 {
		return false
	}
	f, err := strconv.ParseFloat(string(num), 64)
	return err != nil && math.IsInf(f, 0)
}

// valueEnd returns the index just past the value that starts at v[i].
func valueEnd(v []byte, i int) int {
	if i >= len(v) {
		return len(v)
	}
	switch v[i] {
	case '"':
		return stringEnd(v, i)
	case '{', '[':
		depth := 0
		for ; i < len(v); i++ {
			switch v[i] {
			case '"':
				i = stringEnd(v, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(v)
	default: // number, true, false, null
		// From the next byte: a value is never empty, and on text that is not JSON (a
		// delimiter where a value belongs) every call still moves on.
		for i++; i < len(v); i++ {
			switch v[i] {
			case ',', ']', '}', ' ', '\t', '\r', '\n':
				return i
			}
		}
		return len(v)
	}
}

// stringEnd returns the index just past the string whose opening quote is v[i].
func stringEnd(v []byte, i int) int {
	for i++; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(v)
}

// plainASCII reports whether a key's text is its value: no escapes, no bytes beyond ASCII.
func plainASCII(key []byte) bool {
	for _, c := range key {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

func skipSpace(v []byte, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n') {
		i++
	}
	return i
}
