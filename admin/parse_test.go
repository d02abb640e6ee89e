package admin

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
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
		f := fieldsOf(item)
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
	for _, s := range []string{`{"userId":5,"hash":"x"}`, ` `, `null`, `{"a":1,"a":2}`, `{"\u0061":[1, {"b":" "}]}`, `[]`, `{"a":}`, "{\"\xff\":1}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got, err := decodeBody([]byte(text))
		want := map[string]json.RawMessage{}
		ok := len(strings.TrimSpace(text)) == 0 || (json.Unmarshal([]byte(text), &want) == nil && want != nil)
		if (err == nil) != ok {
			t.Fatalf("decodeBody(%q): error %v, json.Unmarshal accepts it: %v", text, err, ok)
		}
		if ok && !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("decodeBody(%q) = %q, json.Unmarshal gives %q", text, got, want)
		}
	})
}
