package jsontext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzWalk: on valid JSON the walkers find exactly what encoding/json finds, and IsCompact and
// Compact agree with json.Compact; on anything else they return.
func FuzzWalk(f *testing.F) {
	for _, s := range []string{
		`[{"userId":1,"message":"a"},{"userIds":[2,1],"message":{"b":[]},"event":"e"}]`,
		`[ { "userId" : 1 , "message" : { "a" : [ 1 , "x\"]}" ] } } ]`,
		`{"user\u0049d":1,"message":"a b","userId":2}`, `[null,{}]`, `[1]`, `[]`, `{"a":1}`, `null`,
		`"x y"`, `{"\xd2":0}`, `{"`, `["\`, `[{"userId":"\ud800","message":"\u2028 a\\"}]`, " \t[1 ,2]\n",
		`{"a":1e400,"b":[-1E+999, 2e-999],"1e400":"1e400"}`, `-1e309`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		v := []byte(text)
		var got []json.RawMessage
		isArray, _ := Elements(v, func(_ int, e []byte) error { got = append(got, e); return nil })
		gotObj := map[string]json.RawMessage{}
		isObject := Members(v, func(k string, val []byte) { gotObj[k] = val })
		compact := IsCompact(v)
		if !json.Valid(v) {
			return // only that nothing above panicked or looped
		}
		var list []json.RawMessage
		if (json.Unmarshal(v, &list) == nil && list != nil) != isArray || !sameList(got, list) {
			t.Fatalf("Elements(%s) = %v %q, encoding/json finds %q", v, isArray, got, list)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(v, &obj); (err == nil && obj != nil) != isObject || (isObject && !sameMembers(gotObj, obj)) {
			t.Fatalf("Members(%s) = %v %q, encoding/json finds %q", v, isObject, gotObj, obj)
		}
		var want bytes.Buffer
		json.Compact(&want, v)
		if compact != bytes.Equal(want.Bytes(), v) {
			t.Fatalf("IsCompact(%s) = %v, json.Compact gives %s", v, compact, want.Bytes())
		}
		if c := Compact(v); !bytes.Equal(c, want.Bytes()) {
			t.Fatalf("Compact(%s) = %s, want %s", v, c, want.Bytes())
		}
		// Finite: what encoding/json can decode it leaves alone; anything else it makes so.
		var value any
		decodes := json.Unmarshal(v, &value) == nil
		fin := Finite(v)
		if decodes && !bytes.Equal(fin, v) {
			t.Fatalf("Finite(%s) = %s, want it unchanged", v, fin)
		}
		if err := json.Unmarshal(fin, &value); err != nil {
			t.Fatalf("Finite(%s) = %s: %v", v, fin, err)
		}
	})
}

func TestFinite(t *testing.T) {
	for in, want := range map[string]string{
		`1e400`:                              `null`,
		`[1e308,-1e309,1.5e-400,12]`:         `[1e308,null,1.5e-400,12]`,
		`{"n":1E+400,"s":"1e400"}`:           `{"n":null,"s":"1e400"}`,
		`{"a":[{"b":-9e999}]}`:               `{"a":[{"b":null}]}`,
		`"\"1e400"`:                          `"\"1e400"`,
		`[` + strings.Repeat("9", 309) + `]`: `[null]`,
		`[` + strings.Repeat("9", 308) + `]`: `[` + strings.Repeat("9", 308) + `]`,
	} {
		if got := Finite([]byte(in)); string(got) != want {
			t.Errorf("Finite(%s) = %s, want %s", in, got, want)
		}
	}
	plain := []byte(`{"a":[1,2.5,-3e10],"b":"x"}`)
	if got := Finite(plain); &got[0] != &plain[0] {
		t.Error("Finite copied text that needed no change")
	}
}

func TestCompactCopies(t *testing.T) {
	v := []byte(`{"a":"b c"}`)
	c := Compact(v)
	c[2] = 'x'
	if v[2] != 'a' {
		t.Fatal("Compact returned its input, not a copy")
	}
}

func BenchmarkIsCompact(b *testing.B) {
	msg := []byte(`{"title":"New message","body":"Hello, how are you today?","id":123456,"tags":["a","b"]}`)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if !IsCompact(msg) {
			b.Fatal("compact text reported as not compact")
		}
	}
}

func sameList(a, b []json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameMembers(a, b map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}
