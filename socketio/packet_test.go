package socketio

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func raws(ss ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(ss))
	for i, s := range ss {
		out[i] = json.RawMessage(s)
	}
	return out
}

func TestDecodePacket(t *testing.T) {
	tests := []struct {
		in   string
		want packet
	}{
		{"0", packet{typ: typeConnect, nsp: "/"}},
		{`0{"token":"123"}`, packet{typ: typeConnect, nsp: "/", data: json.RawMessage(`{"token":"123"}`)}},
		{"0/admin,", packet{typ: typeConnect, nsp: "/admin"}},
		{"0/admin", packet{typ: typeConnect, nsp: "/admin"}},
		{`0/admin,{"a":1}`, packet{typ: typeConnect, nsp: "/admin", data: json.RawMessage(`{"a":1}`)}},
		{"0/admin?x=1,", packet{typ: typeConnect, nsp: "/admin?x=1"}}, // socket.io-client 2.x query
		{"1", packet{typ: typeDisconnect, nsp: "/"}},
		{"1/admin,", packet{typ: typeDisconnect, nsp: "/admin"}},
		{`2["hello"]`, packet{typ: typeEvent, nsp: "/", name: "hello", args: raws()}},
		{`2["message",1,"2",{"3":[true]}]`, packet{typ: typeEvent, nsp: "/", name: "message", args: raws(`1`, `"2`+`"`, `{"3":[true]}`)}},
		{`2 [ "sp" , 1 ] `, packet{typ: typeEvent, nsp: "/", name: "sp", args: raws(`1`)}},
		{`2["a\"b\u00e9"]`, packet{typ: typeEvent, nsp: "/", name: "a\"bé", args: raws()}},
		{`2[42,"x"]`, packet{typ: typeEvent, nsp: "/", name: "42", args: raws(`"x"`)}},
		{`2456["message-with-ack",1]`, packet{typ: typeEvent, nsp: "/", id: 456, hasID: true, name: "message-with-ack", args: raws(`1`)}},
		{`2/admin,7["x"]`, packet{typ: typeEvent, nsp: "/admin", id: 7, hasID: true, name: "x", args: raws()}},
		{`20["x"]`, packet{typ: typeEvent, nsp: "/", id: 0, hasID: true, name: "x", args: raws()}},
		{`39007199254740991[]`, packet{typ: typeAck, nsp: "/", id: 9007199254740991, hasID: true, args: raws()}},
		{`312["ok",{"a":null}]`, packet{typ: typeAck, nsp: "/", id: 12, hasID: true, args: raws(`"ok"`, `{"a":null}`)}},
		{`312`, packet{typ: typeAck, nsp: "/", id: 12, hasID: true}},
		{`4{"message":"no"}`, packet{typ: typeConnectError, nsp: "/", data: json.RawMessage(`{"message":"no"}`)}},
		{`4"no"`, packet{typ: typeConnectError, nsp: "/", data: json.RawMessage(`"no"`)}},
		{`51-["ev",{"_placeholder":true,"num":0}]`, packet{typ: typeBinaryEvent, attachments: 1, nsp: "/", name: "ev", args: raws(`{"_placeholder":true,"num":0}`)}},
		{`52-789["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, packet{typ: typeBinaryEvent, attachments: 2, nsp: "/", id: 789, hasID: true, name: "m", args: raws(`{"_placeholder":true,"num":0}`, `{"_placeholder":true,"num":1}`)}},
		{`51-["ev",{"deep":[{"_placeholder":true,"num":0}]}]`, packet{typ: typeBinaryEvent, attachments: 1, nsp: "/", name: "ev", args: raws(`{"deep":[{"_placeholder":true,"num":0}]}`)}},
		{`62-/admin,3[{"_placeholder":true,"num":1}]`, packet{typ: typeBinaryAck, attachments: 2, nsp: "/admin", id: 3, hasID: true, args: raws(`{"_placeholder":true,"num":1}`)}},
		{`510-["ev"]`, packet{typ: typeBinaryEvent, attachments: 10, nsp: "/", name: "ev", args: raws()}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := decodePacket([]byte(tt.in), DefaultMaxAttachments)
			if err != nil {
				t.Fatalf("decodePacket(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decodePacket(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodePacketInvalid(t *testing.T) {
	tests := []struct {
		in, why string
	}{
		{"", "empty packet"},
		{"7", "unknown packet type"},
		{"abc", "unknown packet type"},
		{"4abc", "not JSON"},                 // official test suite: close on invalid handshake
		{`2{}`, "must be an array"},          // official test suite: invalid payload format
		{`2abc["m",1]`, "not JSON"},          // official test suite: invalid ack id
		{`2`, "no payload"},                  // no event name
		{`2[]`, "no event name"},             //
		{`2[null]`, "string or a number"},    //
		{`2[{"a":1}]`, "string or a number"}, //
		{`2[["a"]]`, "string or a number"},   //
		{`2["connect"]`, "reserved"},         //
		{`2["disconnect",1]`, "reserved"},    //
		{`2["removeListener"]`, "reserved"},  //
		{`2["a"`, "not JSON"},                //
		{`2["a"]x`, "not JSON"},              //
		{`2"str"`, "must be an array"},       //
		{`0[]`, "must be an object"},         // CONNECT payload must be an object
		{`0"tok"`, "must be an object"},      //
		{`0null`, "must be an object"},       //
		{`1{}`, "unexpected payload"},        // DISCONNECT has none
		{`1[]`, "unexpected payload"},        //
		{`3{}`, "must be an array"},          //
		{`3"x"`, "must be an array"},         //
		{`4`, "no payload"},                  //
		{`4[1]`, "object or a string"},       //
		{`4 1`, "object or a string"},        //
		{`99007199254740992[]`, "unknown packet type"},
		{`39007199254740992[]`, "ack id too large"},
		{`399999999999999999999999[]`, "ack id too large"},
		{`5["ev"]`, "digits followed by '-'"},       // no attachment count
		{`5-["ev"]`, "digits followed by '-'"},      //
		{`51["ev"]`, "digits followed by '-'"},      // no dash
		{`51`, "digits followed by '-'"},            //
		{`50-["ev"]`, "attachment count 0"},         //
		{`511-["ev"]`, "too many attachments"},      //
		{`599999999999999999999-["e"]`, "too many"}, // would overflow
		{`5a-["ev"]`, "digits followed by '-'"},     //
		{`51-`, "no payload"},                       //
		{`61-1`, ""},                                // valid: BINARY_ACK with no payload is allowed
		{`51-["ev",{"_placeholder":true,"num":1}]`, "outside"},
		{`51-["ev",{"_placeholder":true,"num":-1}]`, "outside"},
		{`51-["ev",{"_placeholder":true,"num":0.5}]`, "outside"},
		{`51-["ev",{"_placeholder":true}]`, "numeric num"},
		{`51-["ev",{"_placeholder":true,"num":"0"}]`, "numeric num"},
		{`51-["ev",[[{"_placeholder":true,"num":3}]]]`, "outside"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := decodePacket([]byte(tt.in), DefaultMaxAttachments)
			if tt.why == "" {
				if err != nil {
					t.Fatalf("decodePacket(%q): %v", tt.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("decodePacket(%q) = %+v, want error containing %q", tt.in, p, tt.why)
			}
			if !errors.Is(err, errInvalidPacket) {
				t.Errorf("error %v does not wrap errInvalidPacket", err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("decodePacket(%q) error %q, want it to contain %q", tt.in, err, tt.why)
			}
		})
	}
}

// The decoded packet must not alias the Engine.IO buffer, which is reused
// after OnMessage returns.
func TestDecodePacketDoesNotAlias(t *testing.T) {
	in := []byte(`0/ns,{"a":"b"}`)
	p, err := decodePacket(in, DefaultMaxAttachments)
	if err != nil {
		t.Fatal(err)
	}
	in2 := []byte(`2["ev",{"a":"b"}]`)
	q, err := decodePacket(in2, DefaultMaxAttachments)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'X'
	}
	for i := range in2 {
		in2[i] = 'X'
	}
	if string(p.data) != `{"a":"b"}` || p.nsp != "/ns" {
		t.Errorf("CONNECT changed with its input: %+v", p)
	}
	if q.name != "ev" || string(q.args[0]) != `{"a":"b"}` {
		t.Errorf("EVENT changed with its input: %+v", q)
	}
}
