package config

import (
	"reflect"
	"strings"
	"testing"
)

// plain turns a parsed value into ordinary Go values for comparison.
func plain(v *value) any {
	switch v.kind {
	case kindNull:
		return nil
	case kindBool:
		return v.b
	case kindNumber:
		return v.num
	case kindString:
		return v.str
	case kindArray:
		out := []any{}
		for _, e := range v.elems {
			out = append(out, plain(e))
		}
		return out
	}
	out := map[string]any{}
	for _, m := range v.members {
		out[m.key] = plain(m.val)
	}
	return out
}

type obj = map[string]any
type arr = []any

func TestParseValid(t *testing.T) {
	tests := []struct {
		name, in string
		want     any
	}{
		{"empty object", `{}`, obj{}},
		{"module exports", `module.exports = {}`, obj{}},
		{"module exports semicolon", "module.exports = {};\n", obj{}},
		{"module exports spaced", "module . exports\n=\n{ }  ;  // end", obj{}},
		{"json", `{"a": 1, "b": [true, false, null], "c": {"d": "e"}}`,
			obj{"a": 1.0, "b": arr{true, false, nil}, "c": obj{"d": "e"}}},
		{"unquoted keys", `{a: 1, $b: 2, _c: 3, d9: 4, default: 5}`, obj{"a": 1.0, "$b": 2.0, "_c": 3.0, "d9": 4.0, "default": 5.0}},
		{"single quoted key", `{'a-b': 1}`, obj{"a-b": 1.0}},
		{"trailing commas", `{a: [1, 2,], b: {c: 3,},}`, obj{"a": arr{1.0, 2.0}, "b": obj{"c": 3.0}}},
		{"line comment", "{ // hi\n a: 1 // there\n}", obj{"a": 1.0}},
		{"block comment", "/* head */ { /* a\n b */ a: /**/ 1 } /* tail */", obj{"a": 1.0}},
		{"comment slash inside string", `{a: "http://x/*y*/"}`, obj{"a": "http://x/*y*/"}},
		{"negative", `{a: -5, b: -0.5}`, obj{"a": -5.0, "b": -0.5}},
		{"decimals", `{a: 1.5, b: .5, c: 5., d: 0.25}`, obj{"a": 1.5, "b": 0.5, "c": 5.0, "d": 0.25}},
		{"exponent", `{a: 1e3, b: 2.5E-1, c: 1e+2}`, obj{"a": 1000.0, "b": 0.25, "c": 100.0}},
		{"hex", `{a: 0x1F, b: 0XfF, c: -0x10}`, obj{"a": 31.0, "b": 255.0, "c": -16.0}},
		{"zero", `{a: 0, b: -0, c: 0.0}`, obj{"a": 0.0, "b": 0.0, "c": 0.0}},
		{"escapes", `{a: "\n\t\r\b\f\v\0\'\"\\\/\q"}`, obj{"a": "\n\t\r\b\f\v\x00'\"\\/q"}},
		{"single quoted escapes", `{a: 'it\'s "x"'}`, obj{"a": `it's "x"`}},
		{"hex escape", `{a: "\x41\xe9"}`, obj{"a": "Aé"}},
		{"unicode escape", `{a: "\u0041\u00e9\u20AC"}`, obj{"a": "Aé€"}},
		{"unicode brace escape", `{a: "\u{1F600}\u{41}"}`, obj{"a": "😀A"}},
		{"surrogate pair", `{a: "\uD83D\uDE00"}`, obj{"a": "😀"}},
		{"lone surrogate", `{a: "\uD83Dx"}`, obj{"a": "\uFFFDx"}},
		{"line continuation", "{a: 'ab\\\ncd'}", obj{"a": "abcd"}},
		{"line continuation crlf", "{a: 'ab\\\r\ncd'}", obj{"a": "abcd"}},
		{"utf8 string", `{a: "héllo ✓"}`, obj{"a": "héllo ✓"}},
		{"invalid utf8 becomes U+FFFD", "{a: \"x\xffy\"}", obj{"a": "x\uFFFDy"}},
		{"unicode whitespace", "\uFEFF{\u00a0a:\u20281,\u2029b\u3000:2}", obj{"a": 1.0, "b": 2.0}},
		{"crlf and tabs", "module.exports = {\r\n\ta: 1,\r\n}\r\n", obj{"a": 1.0}},
		{"nested arrays", `[[], [[1]], {}]`, arr{arr{}, arr{arr{1.0}}, obj{}}},
		{"top level string", `"x"`, "x"},
		{"duplicate key last wins", `{a: 1, b: 2, a: 3}`, obj{"a": 3.0, "b": 2.0}},
		{"unicode key", `{héllo: 1}`, obj{"héllo": 1.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _, err := parseJS("f.conf", []byte(tt.in))
			if err != nil {
				t.Fatalf("parse %q: %v", tt.in, err)
			}
			if got := plain(v); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parse %q = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty file", ``, `config: f.conf:1:1: unexpected end of file, expected a value`},
		{"only a comment", "// nothing\n", `config: f.conf:2:1: unexpected end of file, expected a value`},
		{"require", `module.exports = require('./other')`, `config: f.conf:1:18: unexpected identifier "require", expected a value`},
		{"function call as value", "{\n  a: foo(),\n}", `config: f.conf:2:6: unexpected identifier "foo", expected a value`},
		{"process env", `{a: process.env.PORT}`, `config: f.conf:1:5: unexpected identifier "process", expected a value`},
		{"addition", `{a: 1 + 2}`, `config: f.conf:1:7: unexpected "+", expected "," or "}"`},
		{"string concatenation", `{a: 'x' + 'y'}`, `config: f.conf:1:9: unexpected "+", expected "," or "}"`},
		{"unary plus", `{a: +1}`, `config: f.conf:1:5: unexpected "+", expected a value`},
		{"template string", "{a: `x`}", "config: f.conf:1:5: unexpected template string (use ' or \"), expected a value"},
		{"missing colon", `{a 1}`, `config: f.conf:1:4: unexpected number, expected ":"`},
		{"shorthand property", `{a}`, `config: f.conf:1:3: unexpected "}", expected ":"`},
		{"missing comma", "{a: 1\n b: 2}", `config: f.conf:2:2: unexpected identifier "b", expected "," or "}"`},
		{"numeric key", `{1: 2}`, `config: f.conf:1:2: unexpected number, expected a key or "}"`},
		{"computed key", `{[a]: 2}`, `config: f.conf:1:2: unexpected "[", expected a key or "}"`},
		{"unclosed object", `{a: 1,`, `config: f.conf:1:7: unexpected end of file, expected a key or "}"`},
		{"unclosed array", `{a: [1`, `config: f.conf:1:7: unexpected end of file, expected "," or "]"`},
		{"array hole", `{a: [1,,2]}`, `config: f.conf:1:8: unexpected ",", expected a value or "]"`},
		{"leading comma", `{, a: 1}`, `config: f.conf:1:2: unexpected ",", expected a key or "}"`},
		{"unterminated string", "{a: 'abc}", `config: f.conf:1:5: unterminated string`},
		{"newline in string", "{a: 'ab\ncd'}", `config: f.conf:1:5: unterminated string (a line break inside quotes needs \n)`},
		{"unterminated block comment", "{a: 1 /* oops\n}", `config: f.conf:1:7: unterminated /* comment`},
		{"unterminated block comment at end", "{a: 1} /* oops", `config: f.conf:1:8: unterminated /* comment`},
		{"octal escape", `{a: "\1"}`, `config: f.conf:1:6: octal escape sequences are not allowed`},
		{"bad hex escape", `{a: "\xZZ"}`, `config: f.conf:1:6: invalid escape: \x needs two hex digits`},
		{"bad unicode escape", `{a: "\u12"}`, `config: f.conf:1:6: invalid escape: \u needs four hex digits`},
		{"bad brace escape", `{a: "\u{110000}"}`, `config: f.conf:1:6: invalid escape: \u{...} needs a code point up to 10FFFF`},
		{"leading zero", `{a: 010}`, `config: f.conf:1:5: invalid number "010": a leading zero would make it octal in JavaScript`},
		{"empty hex", `{a: 0x}`, `config: f.conf:1:5: invalid number "0x": 0x needs hex digits`},
		{"bad exponent", `{a: 1e}`, `config: f.conf:1:5: invalid number "1e": the exponent needs digits`},
		{"letters after number", `{a: 12px}`, `config: f.conf:1:7: unexpected identifier "px" after the number 12`},
		{"two dots", `{a: 1.2.3}`, `config: f.conf:1:8: unexpected "." after the number 1.2`},
		{"lone minus", `{a: -}`, `config: f.conf:1:5: unexpected "-", expected a value`},
		{"infinity", `{a: Infinity}`, `config: f.conf:1:5: unexpected identifier "Infinity", expected a value`},
		{"huge number", `{a: 1e999}`, `config: f.conf:1:5: number 1e999 is out of range`},
		{"huge hex", `{a: 0x10000000000000000}`, `config: f.conf:1:5: number 0x10000000000000000 is out of range`},
		{"garbage after value", `{} x`, `config: f.conf:1:4: unexpected identifier "x", expected end of file after the value`},
		{"two semicolons", `{};;`, `config: f.conf:1:4: unexpected ";", expected end of file after the value`},
		{"module without exports", `module = {}`, `config: f.conf:1:8: unexpected "=", expected "." in "module.exports ="`},
		{"module dot other", `module.foo = {}`, `config: f.conf:1:8: unexpected identifier "foo", expected "exports" in "module.exports ="`},
		{"module exports compare", `module.exports == {}`, `config: f.conf:1:16: unexpected "==", expected "=" in "module.exports ="`},
		{"exports alone", `exports = {}`, `config: f.conf:1:1: unexpected identifier "exports", expected a value`},
		{"use strict", "'use strict';\nmodule.exports = {}", `config: f.conf:2:1: unexpected identifier "module", expected end of file after the value`},
		{"binary byte", "{a: \x01}", `config: f.conf:1:5: unexpected "\x01", expected a value`},
		{"invalid utf8 outside strings", "{\xff: 1}", `config: f.conf:1:2: unexpected byte 0xff, expected a key or "}"`},
		{"column after crlf", "{\r\n  a: ?}", `config: f.conf:2:6: unexpected "?", expected a value`},
		{"line after u2028", "{\u2028a: ?}", `config: f.conf:2:4: unexpected "?", expected a value`},
		{"too deep", strings.Repeat("[", 65) + strings.Repeat("]", 65), `config: f.conf:1:65: nested deeper than 64 levels`},
		{"too deep objects", strings.Repeat("{a:", 65) + "1" + strings.Repeat("}", 65), `config: f.conf:1:193: nested deeper than 64 levels`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _, err := parseJS("f.conf", []byte(tt.in))
			if err == nil {
				t.Fatalf("parse %q = %#v, want error %q", tt.in, plain(v), tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("parse %q:\n got error %s\nwant error %s", tt.in, err, tt.want)
			}
		})
	}
}

func TestParseDepthLimitIsInclusive(t *testing.T) {
	in := strings.Repeat("[", 64) + strings.Repeat("]", 64)
	if _, _, err := parseJS("f.conf", []byte(in)); err != nil {
		t.Fatalf("64 levels: %v", err)
	}
	// A hostile file far deeper than the limit fails fast, without
	// exhausting the stack.
	in = strings.Repeat("[", 1<<20)
	if _, _, err := parseJS("f.conf", []byte(in)); err == nil || !strings.Contains(err.Error(), "nested deeper than 64 levels") {
		t.Fatalf("deep input: got %v", err)
	}
}

func TestParsePositions(t *testing.T) {
	in := "module.exports = {\n\t// c\n\tadmin: {\n\t\tport: 'x',\n\t},\n}"
	v, _, err := parseJS("f.conf", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if v.pos != (pos{1, 18}) {
		t.Errorf("root at %v, want 1:18", v.pos)
	}
	admin := v.members[0]
	if admin.pos != (pos{3, 2}) || admin.val.pos != (pos{3, 9}) {
		t.Errorf("admin key at %v, value at %v; want 3:2 and 3:9", admin.pos, admin.val.pos)
	}
	port := admin.val.members[0]
	if port.pos != (pos{4, 3}) || port.val.pos != (pos{4, 9}) {
		t.Errorf("port key at %v, value at %v; want 4:3 and 4:9", port.pos, port.val.pos)
	}
}

func TestParseDuplicateKeyWarning(t *testing.T) {
	in := "{\n admin: {\n  port: 1,\n  port: 2,\n },\n}"
	v, warnings, err := parseJS("f.conf", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`config: f.conf:4: duplicate key "admin.port" (first at line 3); the last one wins`}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings = %q, want %q", warnings, want)
	}
	if got := plain(v); !reflect.DeepEqual(got, obj{"admin": obj{"port": 2.0}}) {
		t.Errorf("value = %v", got)
	}
}
