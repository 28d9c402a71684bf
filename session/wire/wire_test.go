package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"
)

const (
	vector1 = "00000074696e7075745f73747265616d5f64617461202020202020202020202020202020000000010000018bcfe56800000000000000000000000000000000008899aabbccddeeff0011223344556677e9fe7e88e89d532379960402db8f9458194dae772aa5fda5a12806c22215f0ff00000001000000036c730a"
	vector2 = "0000007461636b6e6f776c65646765202020202020202020202020202020202020202020000000010000018bcfe56805000000000000000000000000000000037766554433221100ffeeddccbbaa998803a948161e611e6fb44f1b2067a682d6ad474d414803c26ce91b351646fec58c00000000000000af7b2241636b6e6f776c65646765644d65737361676554797065223a22696e7075745f73747265616d5f64617461222c2241636b6e6f776c65646765644d6573736167654964223a2230303131323233332d343435352d363637372d383839392d616162626363646465656666222c2241636b6e6f776c65646765644d65737361676553657175656e63654e756d626572223a302c22497353657175656e7469616c4d657373616765223a747275657d"
	vector3 = "00000074696e7075745f73747265616d5f64617461202020202020202020202020202020000000010000018bcfe5680a000000000000000700000000000000008796a5b4c3d2e1f00f1e2d3c4b5a6978433ebf5bc03dffa38536673207a21281612cef5faa9bc7a4d5b9be2fdb12cf1a0000000a0000000400000002"
)

const ackPayload = `{"AcknowledgedMessageType":"input_stream_data","AcknowledgedMessageId":"00112233-4455-6677-8899-aabbccddeeff","AcknowledgedMessageSequenceNumber":0,"IsSequentialMessage":true}`

func vectors() []struct {
	name string
	hex  string
	msg  Message
} {
	return []struct {
		name string
		hex  string
		msg  Message
	}{
		{"v1-input", vector1, Message{TypeInputStreamData, 1, 1700000000000, 0, 0,
			uuid.MustParse("00112233-4455-6677-8899-aabbccddeeff"), PayloadOutput, []byte("ls\n")}},
		{"v2-ack", vector2, Message{TypeAcknowledge, 1, 1700000000005, 0, FlagsAck,
			uuid.MustParse("ffeeddcc-bbaa-9988-7766-554433221100"), PayloadNone, []byte(ackPayload)}},
		{"v3-flag", vector3, Message{TypeInputStreamData, 1, 1700000000010, 7, 0,
			uuid.MustParse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"), PayloadFlag, AppendFlag(nil, FlagTerminateSession)}},
	}
}

func sameMessage(a, b *Message) bool {
	return a.MessageType == b.MessageType && a.SchemaVersion == b.SchemaVersion && a.CreatedDate == b.CreatedDate &&
		a.SequenceNumber == b.SequenceNumber && a.Flags == b.Flags && a.MessageID == b.MessageID &&
		a.PayloadType == b.PayloadType && bytes.Equal(a.Payload, b.Payload)
}

func TestVectors(t *testing.T) {
	for _, v := range vectors() {
		t.Run(v.name, func(t *testing.T) {
			want, _ := hex.DecodeString(v.hex)
			got, err := AppendMessage(nil, &v.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encode mismatch\n got %x\nwant %x", got, want)
			}
			if v.msg.EncodedLen() != len(want) {
				t.Fatalf("EncodedLen %d, want %d", v.msg.EncodedLen(), len(want))
			}
			var m Message
			if err := Decode(want, &m); err != nil {
				t.Fatal(err)
			}
			if !sameMessage(&m, &v.msg) {
				t.Fatalf("decode mismatch: %+v", m)
			}
			// Payload aliases the frame.
			if &m.Payload[0] != &want[FrameOverhead] {
				t.Fatal("Decode copied the payload")
			}
			var owned Message
			if err := owned.UnmarshalBinary(want); err != nil {
				t.Fatal(err)
			}
			if &owned.Payload[0] == &want[FrameOverhead] || !sameMessage(&owned, &v.msg) {
				t.Fatal("UnmarshalBinary must copy the payload")
			}
		})
	}
}

func TestAppendAcknowledgeMatchesJSON(t *testing.T) {
	id := uuid.MustParse("00112233-4455-6677-8899-aabbccddeeff")
	got := AppendAcknowledge(nil, TypeInputStreamData, id, 0)
	if string(got) != ackPayload {
		t.Fatalf("got %s", got)
	}
	std, _ := json.Marshal(Acknowledge{TypeOutputStreamData, id.String(), 123456789, true})
	got = AppendAcknowledge(nil, TypeOutputStreamData, id, 123456789)
	if !bytes.Equal(got, std) {
		t.Fatalf("got %s want %s", got, std)
	}
	a, err := ParseAcknowledge(got)
	if err != nil || a.AcknowledgedMessageSequenceNumber != 123456789 || a.AcknowledgedMessageID != id.String() {
		t.Fatalf("parse: %+v %v", a, err)
	}
	for in, want := range map[string]int64{
		string(got): 123456789,
		`{"AcknowledgedMessageSequenceNumber": -2, "x":1}`:                                      -2,
		`{"AcknowledgedMessageSequenceNumber":7}`:                                               7,
		`{"a":"\"AcknowledgedMessageSequenceNumber\":5","AcknowledgedMessageSequenceNumber":9}`: 9,
	} {
		if n, err := AckSequenceNumber([]byte(in)); err != nil || n != want {
			t.Errorf("AckSequenceNumber(%s) = %d, %v; want %d", in, n, err, want)
		}
	}
	if _, err := AckSequenceNumber([]byte(`{"AcknowledgedMessageSequenceNumber":"x"}`)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad ack: %v", err)
	}
	if _, err := ParseAcknowledge([]byte("{")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad ack: %v", err)
	}
}

func TestAppendReusesBuffer(t *testing.T) {
	m := vectors()[0].msg
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		out, err := AppendMessage(buf[:0], &m)
		if err != nil || len(out) != 123 {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("AppendMessage allocated %v times", allocs)
	}
	frame, _ := hex.DecodeString(vector1)
	var d Message
	allocs = testing.AllocsPerRun(100, func() {
		if err := Decode(frame, &d); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode allocated %v times", allocs)
	}
	// Appending to a non-empty prefix keeps it.
	out, _ := AppendMessage([]byte("xy"), &m)
	if string(out[:2]) != "xy" || !bytes.Equal(out[2:], frame) {
		t.Fatal("prefix not preserved")
	}
}

func TestEncodeRejectsBadType(t *testing.T) {
	for _, typ := range []string{"", "this_message_type_is_longer_than_32"} {
		m := Message{MessageType: typ}
		if _, err := AppendMessage(nil, &m); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%q: %v", typ, err)
		}
	}
}

func TestDecodeLegacyHL112NulPadded(t *testing.T) {
	cc := ChannelClosed{MessageID: "x", SessionID: "s-1", MessageType: TypeChannelClosed, SchemaVersion: 1, Output: "bye"}
	p, _ := json.Marshal(cc)
	m := Message{MessageType: TypeChannelClosed, SchemaVersion: 1, CreatedDate: 5, MessageID: uuid.New(), PayloadType: PayloadOutput, Payload: p}
	f, err := AppendLegacyMessage(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 116+len(p) {
		t.Fatalf("legacy frame length %d", len(f))
	}
	// NUL padding instead of spaces.
	for i := offMessageType + len(TypeChannelClosed); i < offSchemaVersion; i++ {
		f[i] = 0
	}
	var d Message
	if err := Decode(f, &d); err != nil {
		t.Fatal(err)
	}
	if d.MessageType != TypeChannelClosed || d.PayloadType != PayloadNone || !bytes.Equal(d.Payload, p) {
		t.Fatalf("decoded %+v", d)
	}
	var got ChannelClosed
	if err := json.Unmarshal(d.Payload, &got); err != nil || got.Output != "bye" {
		t.Fatalf("%+v %v", got, err)
	}
	// Leading NULs and trailing spaces+NULs are trimmed too.
	f2, _ := hex.DecodeString(vector1)
	copy(f2[offMessageType:], "\x00\x00 input_stream_data \x00")
	for i := offMessageType + 22; i < offSchemaVersion; i++ {
		f2[i] = 0
	}
	if err := Decode(f2, &d); err != nil || d.MessageType != TypeInputStreamData {
		t.Fatalf("%q %v", d.MessageType, err)
	}
}

func TestDecodeDigestMismatch(t *testing.T) {
	f, _ := hex.DecodeString(vector1)
	f[len(f)-1] ^= 1
	var m Message
	err := Decode(f, &m)
	var de *DigestError
	if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("want *DigestError, got %v", err)
	}
	if de.MessageType != TypeInputStreamData || de.SequenceNumber != 0 {
		t.Fatalf("%+v", de)
	}
	// Publication messages skip validation of the digest.
	p := Message{MessageType: TypePausePublication, CreatedDate: 1, Payload: []byte("x")}
	pf, _ := AppendMessage(nil, &p)
	pf[len(pf)-1] = 'y'
	if err := Decode(pf, &m); err != nil {
		t.Fatalf("pause_publication digest must be skipped: %v", err)
	}
	// Empty payloads are not checked (service frames may carry a zero digest).
	e := Message{MessageType: TypeStartPublication, CreatedDate: 1}
	ef, _ := AppendMessage(nil, &e)
	if hex.EncodeToString(ef[offDigest:offPayloadType]) != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatal("empty digest wrong")
	}
}

func TestDecodeTruncated(t *testing.T) {
	f, _ := hex.DecodeString(vector2)
	for _, n := range []int{0, 3, 50, 115, 119, 120, 200, len(f) - 1} {
		var m Message
		err := Decode(f[:n], &m)
		var te *TruncatedError
		if !errors.As(err, &te) || !errors.Is(err, ErrMalformed) {
			t.Fatalf("len %d: want *TruncatedError, got %v", n, err)
		}
		if te.Have != n || te.Need <= n {
			t.Fatalf("len %d: %+v", n, te)
		}
	}
}

func TestDecodeFormatErrors(t *testing.T) {
	base, _ := hex.DecodeString(vector1)
	cases := map[string]func(f []byte) []byte{
		"header length": func(f []byte) []byte { f[3] = 200; return f },
		"empty type": func(f []byte) []byte {
			for i := offMessageType; i < offSchemaVersion; i++ {
				f[i] = ' '
			}
			return f
		},
		"trailing bytes": func(f []byte) []byte { return append(f, 0) },
	}
	for name, mut := range cases {
		f := mut(append([]byte(nil), base...))
		var m Message
		err := Decode(f, &m)
		var fe *FormatError
		if !errors.As(err, &fe) || !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: want *FormatError, got %v", name, err)
		}
	}
}

func TestFlagAndPayloadTypeNames(t *testing.T) {
	if f, err := ParseFlag([]byte{0, 0, 0, 3}); err != nil || f != FlagConnectToPortError || f.String() != "ConnectToPortError" {
		t.Fatal(f, err)
	}
	if _, err := ParseFlag([]byte{1}); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	if PayloadHandshakeComplete.String() != "HandshakeComplete" || PayloadType(99).String() != "PayloadType(99)" {
		t.Fatal("names")
	}
}

func TestPayloadJSONShapes(t *testing.T) {
	b, _ := json.Marshal(Size{Cols: 80, Rows: 24})
	if string(b) != `{"cols":80,"rows":24}` {
		t.Fatal(string(b))
	}
	var hr HandshakeRequest
	in := `{"AgentVersion":"3.3.1142.0","RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":{"localPortNumber":"0","portNumber":"80","type":"LocalPortForwarding"}}}]}`
	if err := json.Unmarshal([]byte(in), &hr); err != nil {
		t.Fatal(err)
	}
	var st SessionTypeRequest
	if err := json.Unmarshal(hr.RequestedClientActions[0].ActionParameters, &st); err != nil || st.SessionType != SessionTypePort {
		t.Fatal(err)
	}
	var pp PortProperties
	if err := json.Unmarshal(st.Properties, &pp); err != nil || pp.Type != PortTypeLocalPortForwarding || pp.PortNumber != "80" {
		t.Fatal(pp, err)
	}
	var hc HandshakeComplete
	if err := json.Unmarshal([]byte(`{"HandshakeTimeToComplete":241733000,"CustomerMessage":"m"}`), &hc); err != nil || hc.HandshakeTimeToComplete.Microseconds() != 241733 {
		t.Fatal(hc, err)
	}
	resp, _ := json.Marshal(HandshakeResponse{ClientVersion: "1.2.707.0", ProcessedClientActions: []ProcessedClientAction{{ActionType: ActionSessionType, ActionStatus: ActionSuccess}}})
	if string(resp) != `{"ClientVersion":"1.2.707.0","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1,"ActionResult":null,"Error":""}],"Errors":null}` {
		t.Fatal(string(resp))
	}
	open, _ := json.Marshal(OpenDataChannelInput{MessageSchemaVersion: OpenSchemaVersion, RequestID: "r", TokenValue: "t", ClientID: "c", ClientVersion: "v"})
	if string(open) != `{"MessageSchemaVersion":"1.0","RequestId":"r","TokenValue":"t","ClientId":"c","ClientVersion":"v"}` {
		t.Fatal(string(open))
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, v := range vectors() {
		b, _ := hex.DecodeString(v.hex)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		var m Message
		if err := Decode(frame, &m); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		re, err := AppendMessage(nil, &m)
		if err != nil {
			// Decoded types are at most 32 bytes and non-empty.
			t.Fatalf("re-encode of accepted frame failed: %v", err)
		}
		var m2 Message
		if err := Decode(re, &m2); err != nil {
			t.Fatalf("decode of re-encoded frame: %v", err)
		}
		if !sameMessage(&m, &m2) {
			t.Fatalf("round trip changed message\n%+v\n%+v", m, m2)
		}
	})
}

func frame1K(b *testing.B) (Message, []byte) {
	p := bytes.Repeat([]byte("0123456789abcdef"), 64)
	m := Message{MessageType: TypeOutputStreamData, SchemaVersion: 1, CreatedDate: 1700000000000, SequenceNumber: 42,
		MessageID: uuid.New(), PayloadType: PayloadOutput, Payload: p}
	f, err := AppendMessage(nil, &m)
	if err != nil {
		b.Fatal(err)
	}
	return m, f
}

func BenchmarkWireEncode1K(b *testing.B) {
	m, f := frame1K(b)
	buf := make([]byte, 0, len(f))
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendMessage(buf[:0], &m)
	}
}

func BenchmarkWireDecode1K(b *testing.B) {
	_, f := frame1K(b)
	var m Message
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(f, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzAckSequenceNumber(f *testing.F) {
	f.Add([]byte(ackPayload))
	f.Add([]byte(`{"AcknowledgedMessageSequenceNumber":-9223372036854775808}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		n, err := AckSequenceNumber(p)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("untyped error %v", err)
		}
		// On plain acks (no escapes, the key once in any case) the fast
		// path agrees with encoding/json; others only risk a wrong ack
		// number, which a peer could send anyway.
		plain := !bytes.ContainsRune(p, '\\') &&
			bytes.Count(bytes.ToLower(p), []byte(`acknowledgedmessagesequencenumber`)) == 1
		if a, jerr := ParseAcknowledge(p); plain && jerr == nil && err == nil && a.AcknowledgedMessageSequenceNumber != n {
			t.Fatalf("fast %d, json %d for %s", n, a.AcknowledgedMessageSequenceNumber, p)
		}
	})
}
