package sandbox_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session/wire"
)

// pluginLike speaks the data channel by hand the way session-manager-plugin
// does: acks are sent explicitly, duplicates are never re-acked but dropped
// silently (a message below the next expected sequence number). The agent
// may legitimately send a message twice, for instance when it resends its
// unacked HandshakeRequest on start_publication.
type pluginLike struct {
	t        *testing.T
	ws       *websocket.Conn
	seq      int64
	expected int64 // next agent sequence number to process
}

func (p *pluginLike) send(typ string, seq int64, flags uint64, pt wire.PayloadType, payload []byte) {
	p.t.Helper()
	m := wire.Message{MessageType: typ, SchemaVersion: 1, CreatedDate: uint64(time.Now().UnixMilli()), SequenceNumber: seq,
		Flags: flags, MessageID: uuid.New(), PayloadType: pt, Payload: payload}
	b, err := wire.AppendMessage(nil, &m)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		p.t.Fatal(err)
	}
}

func (p *pluginLike) input(pt wire.PayloadType, payload []byte) {
	p.send(wire.TypeInputStreamData, p.seq, 0, pt, payload)
	p.seq++
}

// ack acknowledges m, which the client has processed.
func (p *pluginLike) ack(m *wire.Message) {
	p.expected = max(p.expected, m.SequenceNumber+1)
	p.send(wire.TypeAcknowledge, 0, wire.FlagsAck, 0, wire.AppendAcknowledge(nil, m.MessageType, m.MessageID, m.SequenceNumber))
}

// next returns the next output_stream_data frame not yet processed,
// skipping acks, publication control and duplicates.
func (p *pluginLike) next() *wire.Message {
	p.t.Helper()
	for {
		_, b, err := p.ws.ReadMessage()
		if err != nil {
			p.t.Fatalf("read: %v", err)
		}
		var m wire.Message
		if err := m.UnmarshalBinary(b); err != nil {
			p.t.Fatal(err)
		}
		if m.MessageType == wire.TypeOutputStreamData && m.SequenceNumber >= p.expected {
			return &m
		}
	}
}

func TestAgentRetransmitsToPluginLikeClient(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	api := ssmClient(t, sb)
	ctx := testContext(t, 30*time.Second)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartSSHSession"),
		Parameters: map[string][]string{"portNumber": {strconv.Itoa(echoServer(t))}}})
	if err != nil {
		t.Fatal(err)
	}
	p := &pluginLike{t: t, ws: rawOpen(t, aws.ToString(out.StreamUrl), aws.ToString(out.TokenValue))}
	_ = p.ws.SetReadDeadline(time.Now().Add(20 * time.Second))

	req := p.next()
	if req.SequenceNumber != 0 || req.Flags != wire.FlagSYN || req.PayloadType != wire.PayloadHandshakeRequest {
		t.Fatalf("first agent message: seq %d flags %d type %v", req.SequenceNumber, req.Flags, req.PayloadType)
	}
	p.ack(req) // the plugin acks handshake payloads before processing
	resp, _ := json.Marshal(wire.HandshakeResponse{ClientVersion: "1.2.694.0", ProcessedClientActions: []wire.ProcessedClientAction{{ActionType: "SessionType", ActionStatus: 1}}})
	p.input(wire.PayloadHandshakeResponse, resp)
	done := p.next()
	if done.PayloadType != wire.PayloadHandshakeComplete || done.SequenceNumber != 1 || done.Flags != 0 {
		t.Fatalf("handshake complete: %+v", done)
	}
	p.ack(done)

	p.input(wire.PayloadOutput, []byte("ping over stdio"))
	first := p.next()
	if string(first.Payload) != "ping over stdio" || first.SequenceNumber != 2 {
		t.Fatalf("echo: seq %d %q", first.SequenceNumber, first.Payload)
	}
	// Like the plugin before its port is connected: drop without acking.
	again := p.next()
	if again.SequenceNumber != 2 || again.MessageID != first.MessageID || string(again.Payload) != "ping over stdio" {
		t.Fatalf("retransmission: seq %d id %v", again.SequenceNumber, again.MessageID)
	}
	p.ack(again)
	p.input(wire.PayloadOutput, []byte("second"))
	if m := p.next(); m.SequenceNumber != 3 || string(m.Payload) != "second" {
		t.Fatalf("after ack: seq %d %q", m.SequenceNumber, m.Payload)
	}
}
