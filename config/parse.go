package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file is the reader for the config file's syntax: the small subset of
// JavaScript that a `module.exports = { ... }` file uses, which includes JSON.
// It builds a tree of values that remember where they were written, so that
// the schema (config.go) can point at the exact line of a bad value.
//
// Accepted: an optional `module.exports =` prefix and an optional `;` after
// the value; `//` and `/* */` comments; any JavaScript white space and line
// terminator; objects with identifier or quoted keys; arrays; single- or
// double-quoted strings with JavaScript escapes; numbers (integers, decimals,
// a leading minus, exponents, 0x hex); true, false and null; trailing commas.
// Everything else (identifiers used as values, calls such as require(...),
// operators, template strings) is refused: the file is data, never code.

// maxDepth bounds the nesting of objects and arrays. The real schema is three
// levels deep; the bound keeps a hostile or broken file from exhausting the
// stack of this recursive parser.
const maxDepth = 64

type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// pos is a 1-based line and column; the column counts bytes, as the Go
// toolchain does.
type pos struct{ line, col int }

// value is one parsed JavaScript value with its position.
type value struct {
	kind    kind
	pos     pos
	b       bool     // kindBool
	num     float64  // kindNumber
	text    string   // kindNumber: the number as written, for messages
	str     string   // kindString
	elems   []*value // kindArray
	members []member // kindObject, in the order written; a duplicate key replaces the earlier value in place (as JavaScript does)
}

type member struct {
	key string
	pos pos // of the key
	val *value
}

// syntaxError is a parse failure at a position; Error gives
// "config: NAME:LINE:COL: MSG".
type syntaxError struct {
	name string
	pos  pos
	msg  string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("config: %s:%d:%d: %s", e.name, e.pos.line, e.pos.col, e.msg)
}

type parser struct {
	name       string
	src        string
	off        int
	lineStarts []int // byte offsets where each line begins; lineStarts[0] == 0
	warnings   []string
	// err is an unterminated block comment. Such a comment swallows the
	// rest of the file, so the parse fails next; that failure reports err.
	err error
}

// parseJS parses a whole config file. The warnings are duplicate keys.
func parseJS(name string, data []byte) (*value, []string, error) {
	p := &parser{name: name, src: string(data)}
	p.lineStarts = lineStarts(p.src)
	v, err := p.file()
	if err != nil {
		return nil, p.warnings, err
	}
	return v, p.warnings, nil
}

// lineStarts finds the lines the way JavaScript counts them: LF, CR, CRLF,
// U+2028 and U+2029 each end a line.
func lineStarts(s string) []int {
	starts := []int{0}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			starts = append(starts, i+1)
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				continue // the '\n' ends this line
			}
			starts = append(starts, i+1)
		case 0xE2:
			if strings.HasPrefix(s[i:], "\u2028") || strings.HasPrefix(s[i:], "\u2029") {
				starts = append(starts, i+3)
				i += 2
			}
		}
	}
	return starts
}

func (p *parser) posAt(off int) pos {
	// The first line start greater than off is the line after off's.
	i := sort.SearchInts(p.lineStarts, off+1)
	return pos{line: i, col: off - p.lineStarts[i-1] + 1}
}

func (p *parser) errAt(off int, format string, args ...any) error {
	return &syntaxError{name: p.name, pos: p.posAt(off), msg: fmt.Sprintf(format, args...)}
}

// unexpected describes what is at off for an error message, with what was
// expected there.
func (p *parser) unexpected(off int, expected string) error {
	if p.err != nil {
		return p.err
	}
	what := p.describeAt(off)
	if expected == "" {
		return p.errAt(off, "unexpected %s", what)
	}
	return p.errAt(off, "unexpected %s, expected %s", what, expected)
}

func (p *parser) describeAt(off int) string {
	if off >= len(p.src) {
		return "end of file"
	}
	r, size := utf8.DecodeRuneInString(p.src[off:])
	switch {
	case r == utf8.RuneError && size == 1:
		return fmt.Sprintf("byte 0x%02x", p.src[off])
	case isIdentStart(r):
		return fmt.Sprintf("identifier %q", clip(p.src[off:p.identEnd(off)]))
	case r >= '0' && r <= '9':
		return "number"
	case r == '"' || r == '\'':
		return "string"
	case r == '`':
		return "template string (use ' or \")"
	}
	return strconv.Quote(string(r))
}

func (p *parser) file() (*value, error) {
	if err := p.modulePrefix(); err != nil {
		return nil, err
	}
	v, err := p.value(0, "")
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.peek() == ';' {
		p.off++
		p.skipSpace()
	}
	if p.off < len(p.src) {
		return nil, p.unexpected(p.off, "end of file after the value")
	}
	return v, p.err
}

// modulePrefix consumes `module.exports =` if the file starts with the word
// "module".
func (p *parser) modulePrefix() error {
	p.skipSpace()
	end := p.identEnd(p.off)
	if p.src[p.off:end] != "module" {
		return nil
	}
	p.off = end
	p.skipSpace()
	if p.peek() != '.' {
		return p.unexpected(p.off, `"." in "module.exports ="`)
	}
	p.off++
	p.skipSpace()
	end = p.identEnd(p.off)
	if p.src[p.off:end] != "exports" {
		return p.unexpected(p.off, `"exports" in "module.exports ="`)
	}
	p.off = end
	p.skipSpace()
	if strings.HasPrefix(p.src[p.off:], "==") {
		return p.errAt(p.off, `unexpected "==", expected "=" in "module.exports ="`)
	}
	if p.peek() != '=' {
		return p.unexpected(p.off, `"=" in "module.exports ="`)
	}
	p.off++
	return nil
}

func (p *parser) peek() byte {
	if p.off < len(p.src) {
		return p.src[p.off]
	}
	return 0
}

// skipSpace skips white space, line terminators and comments.
func (p *parser) skipSpace() {
	for p.off < len(p.src) {
		c := p.src[p.off]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			p.off++
		case c == '/' && strings.HasPrefix(p.src[p.off:], "//"):
			p.off += 2
			for p.off < len(p.src) {
				if c := p.src[p.off]; c == '\n' || c == '\r' || strings.HasPrefix(p.src[p.off:], "\u2028") || strings.HasPrefix(p.src[p.off:], "\u2029") {
					break
				}
				p.off++
			}
		case c == '/' && strings.HasPrefix(p.src[p.off:], "/*"):
			end := strings.Index(p.src[p.off+2:], "*/")
			if end < 0 {
				if p.err == nil {
					p.err = p.errAt(p.off, "unterminated /* comment")
				}
				p.off = len(p.src)
				return
			}
			p.off += 2 + end + 2
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(p.src[p.off:])
			if r != '\uFEFF' && r != '\u2028' && r != '\u2029' && !unicode.Is(unicode.Zs, r) {
				return
			}
			p.off += size
		default:
			return
		}
	}
}

// value parses one value; path is the dotted key it belongs to, for
// duplicate-key warnings.
func (p *parser) value(depth int, path string) (*value, error) {
	p.skipSpace()
	start := p.off
	at := p.posAt(start)
	if p.off >= len(p.src) {
		return nil, p.unexpected(p.off, "a value")
	}
	switch c := p.src[p.off]; {
	case c == '{':
		if depth >= maxDepth {
			return nil, p.errAt(start, "nested deeper than %d levels", maxDepth)
		}
		return p.object(depth+1, path)
	case c == '[':
		if depth >= maxDepth {
			return nil, p.errAt(start, "nested deeper than %d levels", maxDepth)
		}
		return p.array(depth+1, path)
	case c == '"' || c == '\'':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return &value{kind: kindString, pos: at, str: s}, nil
	case c == '-' || c == '.' || (c >= '0' && c <= '9'):
		return p.number()
	}
	end := p.identEnd(start)
	switch word := p.src[start:end]; word {
	case "true", "false":
		p.off = end
		return &value{kind: kindBool, pos: at, b: word == "true"}, nil
	case "null":
		p.off = end
		return &value{kind: kindNull, pos: at}, nil
	}
	return nil, p.unexpected(start, "a value")
}

func (p *parser) object(depth int, path string) (*value, error) {
	v := &value{kind: kindObject, pos: p.posAt(p.off)}
	p.off++ // '{'
	index := map[string]int{}
	for {
		p.skipSpace()
		if p.peek() == '}' {
			p.off++
			return v, nil
		}
		keyOff := p.off
		var key string
		switch c := p.peek(); {
		case c == '"' || c == '\'':
			s, err := p.string()
			if err != nil {
				return nil, err
			}
			key = s
		default:
			r, _ := utf8.DecodeRuneInString(p.src[p.off:])
			if p.off >= len(p.src) || !isIdentStart(r) {
				return nil, p.unexpected(p.off, `a key or "}"`)
			}
			end := p.identEnd(p.off)
			key = p.src[p.off:end]
			p.off = end
		}
		p.skipSpace()
		if p.peek() != ':' {
			return nil, p.unexpected(p.off, `":"`)
		}
		p.off++
		keyPath := joinPath(path, key)
		val, err := p.value(depth, keyPath)
		if err != nil {
			return nil, err
		}
		m := member{key: key, pos: p.posAt(keyOff), val: val}
		if i, dup := index[key]; dup {
			p.warnings = append(p.warnings, fmt.Sprintf("config: %s:%d: duplicate key %q (first at line %d); the last one wins",
				p.name, m.pos.line, keyPath, v.members[i].pos.line))
			v.members[i] = m
		} else {
			index[key] = len(v.members)
			v.members = append(v.members, m)
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.off++
		case '}':
			p.off++
			return v, nil
		default:
			return nil, p.unexpected(p.off, `"," or "}"`)
		}
	}
}

func (p *parser) array(depth int, path string) (*value, error) {
	v := &value{kind: kindArray, pos: p.posAt(p.off)}
	p.off++ // '['
	for {
		p.skipSpace()
		if p.peek() == ']' {
			p.off++
			return v, nil
		}
		if p.peek() == ',' {
			// [1,,2] is a hole in JavaScript: almost certainly a typo in a config.
			return nil, p.unexpected(p.off, `a value or "]"`)
		}
		elem, err := p.value(depth, fmt.Sprintf("%s[%d]", path, len(v.elems)))
		if err != nil {
			return nil, err
		}
		v.elems = append(v.elems, elem)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.off++
		case ']':
			p.off++
			return v, nil
		default:
			return nil, p.unexpected(p.off, `"," or "]"`)
		}
	}
}

// string parses a single- or double-quoted string with JavaScript's escapes.
// Invalid UTF-8 becomes U+FFFD, as when Node reads the file as UTF-8.
func (p *parser) string() (string, error) {
	start := p.off
	quote := p.src[p.off]
	p.off++
	var b strings.Builder
	for {
		if p.off >= len(p.src) {
			return "", p.errAt(start, "unterminated string")
		}
		c := p.src[p.off]
		switch {
		case c == quote:
			p.off++
			return b.String(), nil
		case c == '\n' || c == '\r':
			return "", p.errAt(start, "unterminated string (a line break inside quotes needs \\n)")
		case c == '\\':
			if err := p.escape(&b); err != nil {
				return "", err
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			p.off++
		default:
			r, size := utf8.DecodeRuneInString(p.src[p.off:])
			b.WriteRune(r) // RuneError for a bad byte: U+FFFD
			p.off += size
		}
	}
}

// escape handles one backslash sequence at p.off, appending its meaning.
func (p *parser) escape(b *strings.Builder) error {
	start := p.off
	p.off++ // '\\'
	if p.off >= len(p.src) {
		return p.errAt(start, "unterminated string")
	}
	c := p.src[p.off]
	p.off++
	switch c {
	case 'n':
		b.WriteByte('\n')
	case 't':
		b.WriteByte('\t')
	case 'r':
		b.WriteByte('\r')
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'v':
		b.WriteByte('\v')
	case '\n':
		// A line continuation: the backslash and the line break vanish.
	case '\r':
		if p.peek() == '\n' {
			p.off++
		}
	case '0':
		if d := p.peek(); d >= '0' && d <= '9' {
			return p.errAt(start, "octal escape sequences are not allowed")
		}
		b.WriteByte(0)
	case '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return p.errAt(start, "octal escape sequences are not allowed")
	case 'x':
		n, ok := p.hex(2)
		if !ok {
			return p.errAt(start, `invalid escape: \x needs two hex digits`)
		}
		b.WriteRune(rune(n))
	case 'u':
		r, err := p.unicodeEscape(start)
		if err != nil {
			return err
		}
		if utf16IsHigh(r) && strings.HasPrefix(p.src[p.off:], `\u`) {
			save := p.off
			p.off += 2
			low, err := p.unicodeEscape(save)
			if err == nil && utf16IsLow(low) {
				r = (r-0xD800)<<10 + (low - 0xDC00) + 0x10000
			} else {
				p.off = save // not a pair: the second escape stands alone
			}
		}
		b.WriteRune(r) // a lone surrogate becomes U+FFFD
	default:
		// Any other character stands for itself (\' \" \\ \/ and the rest),
		// U+2028 and U+2029 after a backslash are line continuations.
		p.off--
		r, size := utf8.DecodeRuneInString(p.src[p.off:])
		p.off += size
		if r != '\u2028' && r != '\u2029' {
			b.WriteRune(r)
		}
	}
	return nil
}

// unicodeEscape reads what follows `\u`: four hex digits or {hex digits}.
func (p *parser) unicodeEscape(start int) (rune, error) {
	if p.peek() == '{' {
		p.off++
		end := strings.IndexByte(p.src[p.off:], '}')
		if end < 1 || end > 8 {
			return 0, p.errAt(start, `invalid escape: \u{...} needs 1 to 6 hex digits`)
		}
		n, err := strconv.ParseUint(p.src[p.off:p.off+end], 16, 32)
		if err != nil || n > unicode.MaxRune {
			return 0, p.errAt(start, `invalid escape: \u{...} needs a code point up to 10FFFF`)
		}
		p.off += end + 1
		return rune(n), nil
	}
	n, ok := p.hex(4)
	if !ok {
		return 0, p.errAt(start, `invalid escape: \u needs four hex digits`)
	}
	return rune(n), nil
}

func (p *parser) hex(digits int) (uint64, bool) {
	if p.off+digits > len(p.src) {
		return 0, false
	}
	s := p.src[p.off : p.off+digits]
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, false
	}
	p.off += digits
	return n, true
}

func utf16IsHigh(r rune) bool { return r >= 0xD800 && r <= 0xDBFF }
func utf16IsLow(r rune) bool  { return r >= 0xDC00 && r <= 0xDFFF }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number parses a JavaScript numeric literal, optionally negative.
func (p *parser) number() (*value, error) {
	start := p.off
	i := p.off
	neg := false
	if p.src[i] == '-' {
		neg = true
		i++
	}
	digits := func() int {
		n := 0
		for i < len(p.src) && p.src[i] >= '0' && p.src[i] <= '9' {
			i++
			n++
		}
		return n
	}
	var f float64
	if i+1 < len(p.src) && p.src[i] == '0' && (p.src[i+1] == 'x' || p.src[i+1] == 'X') {
		i += 2
		h := i
		for i < len(p.src) && isHex(p.src[i]) {
			i++
		}
		if i == h {
			return nil, p.errAt(start, "invalid number %q: 0x needs hex digits", clip(p.src[start:i]))
		}
		n, err := strconv.ParseUint(p.src[h:i], 16, 64)
		if err != nil {
			return nil, p.errAt(start, "number %s is out of range", clip(p.src[start:i]))
		}
		f = float64(n)
		if neg {
			f = -f
		}
	} else {
		intStart := i
		intDigits := digits()
		if intDigits > 1 && p.src[intStart] == '0' {
			return nil, p.errAt(start, "invalid number %q: a leading zero would make it octal in JavaScript", clip(p.src[start:i]))
		}
		fracDigits := 0
		if i < len(p.src) && p.src[i] == '.' {
			i++
			fracDigits = digits()
		}
		if intDigits == 0 && fracDigits == 0 {
			return nil, p.unexpected(start, "a value")
		}
		if i < len(p.src) && (p.src[i] == 'e' || p.src[i] == 'E') {
			i++
			if i < len(p.src) && (p.src[i] == '+' || p.src[i] == '-') {
				i++
			}
			if digits() == 0 {
				return nil, p.errAt(start, "invalid number %q: the exponent needs digits", clip(p.src[start:i]))
			}
		}
		var err error
		f, err = strconv.ParseFloat(p.src[start:i], 64)
		if err != nil {
			return nil, p.errAt(start, "number %s is out of range", clip(p.src[start:i]))
		}
	}
	if i < len(p.src) {
		if r, _ := utf8.DecodeRuneInString(p.src[i:]); isIdentPart(r) || r == '.' {
			return nil, p.errAt(i, "unexpected %s after the number %s", p.describeAt(i), clip(p.src[start:i]))
		}
	}
	p.off = i
	return &value{kind: kindNumber, pos: p.posAt(start), num: f, text: p.src[start:i]}, nil
}

func isIdentStart(r rune) bool {
	return r == '$' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
		r >= utf8.RuneSelf && unicode.IsLetter(r)
}

func isIdentPart(r rune) bool {
	return isIdentStart(r) || r >= '0' && r <= '9' ||
		r >= utf8.RuneSelf && (unicode.IsDigit(r) || unicode.In(r, unicode.Mn, unicode.Mc, unicode.Pc))
}

// identEnd returns the end of the identifier starting at off (off itself if
// there is none).
func (p *parser) identEnd(off int) int {
	i := off
	for i < len(p.src) {
		r, size := utf8.DecodeRuneInString(p.src[i:])
		if i == off && !isIdentStart(r) || i > off && !isIdentPart(r) {
			break
		}
		i += size
	}
	return i
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
