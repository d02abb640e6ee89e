package wire

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// AppendJSString appends s as a JavaScript string literal (also a JSON
// string), escaped like JSON.stringify plus U+2028 and U+2029 (line
// terminators in JavaScript); an invalid byte becomes \ufffd. With
// escapeHTML, <, > and & are escaped too (\u003c, \u003e, \u0026), as
// encoding/json does, so the text cannot end or open a tag around the
// script. The string the client sees is the same either way.
func AppendJSString(dst, s []byte, escapeHTML bool) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || (escapeHTML && (c == '<' || c == '>' || c == '&')):
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == 0x2028:
			dst = append(dst, `\u2028`...)
		case r == 0x2029:
			dst = append(dst, `\u2029`...)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
