package admin

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseMessages: on any JSON text (decodeBody checked it), parseMessages agrees with a
// reference built on encoding/json's maps.
func FuzzParseMessages(f *testing.F) {
	for _, s := range []string{
		`[{"userId":1,"message":"a"},{"userIds":[2,1],"message":{"b":[]},"event":"e"}]`,
		`[ { "userId" : 1 , "message" : { "a" : [ 1 , "x\"]}" ] } } ]`,
		`[{"user\u0049d":1,"message":"a","userId":2}]`, `[null,{}]`, `[1]`, `[]`, `{"a":1}`, `null`,
		`[{"messages":[]}]`, `[{"userId":5,"message":"a"},{"userId":5}]`, `"x"`, `[{"userIds":[],"message":1}]`,
		`[{"userId":"\ud800","message":"\u2028 a\\"}]`, `[{"\xd2":0}]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		v := []byte(text)
		if !json.Valid(v) {
			return
		}
		sends, err := parseMessages(v)
		wantSends, wantErr := referenceParseMessages(v)
		if errText(err) != errText(wantErr) || !reflect.DeepEqual(sends, wantSends) {
			t.Fatalf("parseMessages(%s) = %+v, %v; the reference gives %+v, %v", v, sends, err, wantSends, wantErr)
		}
	})
}

// referenceParseMessages is parseMessages written with encoding/json's maps.
func referenceParseMessages(raw []byte) ([]sendRequest, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errorf(400, "messages must be a non-empty array of objects")
	}
	var sends []sendRequest
	for i, elem := range list {
		var item map[string]json.RawMessage
		if err := json.Unmarshal(elem, &item); err != nil || item == nil {
			return nil, errorf(400, "messages["+strconv.Itoa(i)+"]: not an object")
		}
		f := fieldsOf(bodyOf(item))
		if f.nested {
			return nil, errorf(400, "messages["+strconv.Itoa(i)+"]: messages cannot nest")
		}
		s, err := parseSend(f)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				ae.msg = "messages[" + strconv.Itoa(i) + "]: " + ae.msg
			}
			return nil, err
		}
		sends = append(sends, s)
	}
	if len(sends) == 0 {
		return nil, errorf(400, "messages must be a non-empty array of objects")
	}
	return sends, nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzDecodeBody: decodeBody accepts and reads exactly what json.Unmarshal into a map does.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{"userId":5,"hash":"x"}`, ` `, `null`, `{"a":1,"a":2}`, `{"\u0061":[1, {"b":" "}]}`, `[]`, `{"a":}`, "{\"\xff\":1}",
		"{\"message\":\"bad \xc3\x28 \xe2\x82 \xff\xfe\"}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got, err := decodeBody([]byte(text))
		want := map[string]json.RawMessage{}
		ok := len(strings.TrimSpace(text)) == 0 || (json.Unmarshal([]byte(text), &want) == nil && want != nil)
		if (err == nil) != ok {
			t.Fatalf("decodeBody(%q): error %v, json.Unmarshal accepts it: %v", text, err, ok)
		}
		if !ok {
			return
		}
		// Bytes outside UTF-8 become U+FFFD, one per byte, as encoding/json decodes them; the
		// members are then what json.Unmarshal gives for the text so mended.
		for k, v := range mapOf(got) {
			if !utf8.Valid(v) || !utf8.ValidString(k) {
				t.Fatalf("decodeBody(%q): member %q is not UTF-8: %q", text, k, v)
			}
			var gotV, wantV any
			if json.Unmarshal(v, &gotV) != nil || json.Unmarshal(want[k], &wantV) != nil || !reflect.DeepEqual(gotV, wantV) {
				t.Fatalf("decodeBody(%q): member %q = %s, json.Unmarshal gives %s", text, k, v, want[k])
			}
		}
		if utf8.ValidString(text) && !reflect.DeepEqual(mapOf(got), want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("decodeBody(%q) = %q, json.Unmarshal gives %q", text, got, want)
		}
	})
}

// bodyOf is a decoded map's members (a map has no repeated keys, so their order is moot).
func bodyOf(m map[string]json.RawMessage) body {
	var b body
	for k, v := range m {
		b = append(b, member{k, v})
	}
	return b
}

// mapOf is what a body decodes to as a map: the last of repeated keys wins.
func mapOf(b body) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for _, mb := range b {
		m[mb.key] = mb.val
	}
	return m
}

// FuzzEncodeReply: a reply's JSON is byte for byte json.Marshal's for the same fields.
func FuzzEncodeReply(f *testing.F) {
	f.Add("error", "Not Found", 404, "", "")
	f.Add("unknownUsers", "99", 200, "7", "delivered")
	f.Add("error", `event "<b>" is reserved & "x"`, 400, "\u2028", "\xff")
	f.Add("", "", 0, "", "")
	f.Fuzz(func(t *testing.T, key, str string, n int, listItem, key2 string) {
		for _, body := range []map[string]any{
			{key: str, "status": n},
			{key: str, key2: n, "result": "OK", "status": 200},
			{key: []string{str, listItem}, "status": n},
			{key: []string{}, key2: []string(nil), "status": n},
			{key: str, key2: int64(n), "status": n},                                    // a type the fast path leaves to json.Marshal
			{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, key: str}, // more keys than it sorts
		} {
			got, err := encodeReply(body)
			want, wantErr := json.Marshal(body)
			if errText(err) != errText(wantErr) || string(got) != string(want) {
				t.Fatalf("encodeReply(%#v) = %s, %v; json.Marshal gives %s, %v", body, got, err, want, wantErr)
			}
		}
	})
}

// FuzzSendReply: /user/send's reply is byte for byte json.Marshal's for the map it stands for.
func FuzzSendReply(f *testing.F) {
	f.Add(1, 0, 0, "", "")
	f.Add(0, 2, 3, "99", "x")
	f.Add(5, 5, 0, `<"\u2028>`, "\xff")
	f.Fuzz(func(t *testing.T, delivered, buffered, messages int, unknown1, unknown2 string) {
		if messages < 0 {
			messages = -messages
		}
		for _, unknown := range [][]string{nil, {unknown1}, {unknown1, unknown2}} {
			r := sendReply{messages: messages}
			r.Delivered, r.Buffered, r.Unknown = delivered, buffered, unknown
			want := map[string]any{"delivered": delivered, "buffered": buffered, "result": "OK", "status": 200}
			if messages > 0 {
				want["messages"] = messages
			}
			if len(unknown) > 0 {
				want["unknownUsers"] = unknown
			}
			wantText, _ := json.Marshal(want)
			if got := r.appendJSON(nil); string(got) != string(wantText) {
				t.Fatalf("%+v: %s, json.Marshal gives %s", r, got, wantText)
			}
		}
	})
}
