// Package wire is the codec for the Session Manager data channel: the binary
// AgentMessage frame (ssm-protocol.md §3), the message/payload/flag constants
// (§4, §5.2) and the JSON payloads carried inside frames (§2.2, §5.1, §7,
// §9.1, §10.1).
//
// The frame codec is allocation-free: [AppendMessage] appends an encoded frame
// to a caller buffer and [Decode] fills a [Message] whose Payload aliases the
// input frame. Both sides of the protocol (client and agent) use this package.
package wire

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"
)

// Frame layout constants (§3.1).
const (
	// HeaderLength is the HeaderLength value written by [AppendMessage]: the
	// offset of the PayloadLength field.
	HeaderLength = 116
	// LegacyHeaderLength is the HeaderLength of service-generated frames that
	// omit the PayloadType field (seen on channel_closed, §3.3).
	LegacyHeaderLength = 112
	// FrameOverhead is the number of bytes an encoded frame adds to its payload.
	FrameOverhead = HeaderLength + 4
	// MaxMessageTypeLen is the size of the space-padded MessageType field.
	MaxMessageTypeLen = 32
	// SchemaVersion is the only SchemaVersion either side produces.
	SchemaVersion = 1
)

// Field offsets inside a frame.
const (
	offHeaderLength   = 0
	offMessageType    = 4
	offSchemaVersion  = 36
	offCreatedDate    = 40
	offSequenceNumber = 48
	offFlags          = 56
	offMessageID      = 64
	offDigest         = 80
	offPayloadType    = 112
	offPayloadLength  = 116
)

// MessageType strings (§4.1).
const (
	TypeInputStreamData   = "input_stream_data"
	TypeOutputStreamData  = "output_stream_data"
	TypeAcknowledge       = "acknowledge"
	TypeChannelClosed     = "channel_closed"
	TypeStartPublication  = "start_publication"
	TypePausePublication  = "pause_publication"
	TypeAgentSessionState = "agent_session_state"
)

// Header Flags values (§5.2). Nobody validates them on receipt; send these.
const (
	// FlagsNone is the Flags value of client stream data and of agent stream
	// data after sequence number 0.
	FlagsNone uint64 = 0
	// FlagSYN marks the first message of a stream (agent stream data, seq 0).
	FlagSYN uint64 = 1
	// FlagFIN marks the last message of a stream (only used together with SYN).
	FlagFIN uint64 = 2
	// FlagsAck is the Flags value of acknowledge and agent_session_state frames.
	FlagsAck = FlagSYN | FlagFIN
)

// PayloadType is the uint32 PayloadType field of a frame (§4.2).
type PayloadType uint32

// PayloadType values (§4.2).
const (
	PayloadNone                 PayloadType = 0
	PayloadOutput               PayloadType = 1
	PayloadError                PayloadType = 2
	PayloadSize                 PayloadType = 3
	PayloadParameter            PayloadType = 4
	PayloadHandshakeRequest     PayloadType = 5
	PayloadHandshakeResponse    PayloadType = 6
	PayloadHandshakeComplete    PayloadType = 7
	PayloadEncChallengeRequest  PayloadType = 8
	PayloadEncChallengeResponse PayloadType = 9
	PayloadFlag                 PayloadType = 10
	PayloadStdErr               PayloadType = 11
	PayloadExitCode             PayloadType = 12
)

var payloadNames = [...]string{
	"None", "Output", "Error", "Size", "Parameter", "HandshakeRequest", "HandshakeResponse",
	"HandshakeComplete", "EncChallengeRequest", "EncChallengeResponse", "Flag", "StdErr", "ExitCode",
}

// String returns the protocol name of p, or "PayloadType(n)" if unknown.
func (p PayloadType) String() string {
	if int(p) < len(payloadNames) {
		return payloadNames[p]
	}
	return "PayloadType(" + strconv.FormatUint(uint64(p), 10) + ")"
}

// Flag is the 4-byte big-endian value carried by a PayloadFlag message (§4.3).
type Flag uint32

// Flag payload values (§4.3).
const (
	// FlagDisconnectToPort (client→agent, basic port mode): the local
	// connection ended; the agent closes its target connection.
	FlagDisconnectToPort Flag = 1
	// FlagTerminateSession (client→agent, port sessions): end the session.
	FlagTerminateSession Flag = 2
	// FlagConnectToPortError (agent→client, mux mode): dialing the
	// destination for a new stream failed.
	FlagConnectToPortError Flag = 3
)

// String returns the protocol name of f.
func (f Flag) String() string {
	switch f {
	case FlagDisconnectToPort:
		return "DisconnectToPort"
	case FlagTerminateSession:
		return "TerminateSession"
	case FlagConnectToPortError:
		return "ConnectToPortError"
	}
	return "Flag(" + strconv.FormatUint(uint64(f), 10) + ")"
}

// AppendFlag appends the 4-byte payload of a PayloadFlag message.
func AppendFlag(dst []byte, f Flag) []byte { return binary.BigEndian.AppendUint32(dst, uint32(f)) }

// ParseFlag decodes a PayloadFlag payload; it must be exactly 4 bytes.
func ParseFlag(p []byte) (Flag, error) {
	if len(p) != 4 {
		return 0, fmt.Errorf("parse flag payload: %w", &FormatError{Field: "Flag", Reason: fmt.Sprintf("payload is %d bytes, want 4", len(p))})
	}
	return Flag(binary.BigEndian.Uint32(p)), nil
}

// Message is one decoded data-channel frame.
//
// MessageID is held in canonical RFC 4122 byte order; the halves swap of the
// wire format (§3.2) is done by the codec. After [Decode], Payload aliases the
// decoded frame: it is valid only as long as the frame buffer is not reused.
// Use [Message.Clone] or [Message.UnmarshalBinary] to own the bytes.
type Message struct {
	MessageType    string
	SchemaVersion  uint32
	CreatedDate    uint64 // milliseconds since the Unix epoch (UTC)
	SequenceNumber int64
	Flags          uint64
	MessageID      uuid.UUID
	PayloadType    PayloadType
	Payload        []byte
}

// Clone returns a copy of m whose Payload does not alias m's.
func (m *Message) Clone() *Message {
	c := *m
	if m.Payload != nil {
		c.Payload = append([]byte(nil), m.Payload...)
	}
	return &c
}

// EncodedLen returns the length of m's frame as produced by [AppendMessage].
func (m *Message) EncodedLen() int { return FrameOverhead + len(m.Payload) }

// AppendMessage appends the frame for m (HeaderLength 116, space-padded
// MessageType, SHA-256 payload digest, halves-swapped MessageID) to dst and
// returns the extended slice. It allocates only if dst lacks capacity. It
// fails with a *FormatError if MessageType is empty or longer than 32 bytes.
func AppendMessage(dst []byte, m *Message) ([]byte, error) {
	return appendMessage(dst, m, HeaderLength)
}

// AppendLegacyMessage appends m in the HeaderLength 112 layout that lacks the
// PayloadType field (§3.3). Only emulators use it, to reproduce
// service-generated channel_closed frames; m.PayloadType is not encoded.
func AppendLegacyMessage(dst []byte, m *Message) ([]byte, error) {
	return appendMessage(dst, m, LegacyHeaderLength)
}

func appendMessage(dst []byte, m *Message, hl int) ([]byte, error) {
	if len(m.MessageType) == 0 || len(m.MessageType) > MaxMessageTypeLen {
		return dst, &FormatError{Field: "MessageType", Reason: fmt.Sprintf("length %d not in 1..%d", len(m.MessageType), MaxMessageTypeLen)}
	}
	if uint64(len(m.Payload)) > 0xffffffff {
		return dst, &FormatError{Field: "PayloadLength", Reason: "payload longer than 4 GiB"}
	}
	n := hl + 4 + len(m.Payload)
	start := len(dst)
	if cap(dst)-start < n {
		nb := make([]byte, start, start+n)
		copy(nb, dst)
		dst = nb
	}
	dst = dst[:start+n]
	f := dst[start:]
	be := binary.BigEndian
	be.PutUint32(f[offHeaderLength:], uint32(hl))
	c := copy(f[offMessageType:offSchemaVersion], m.MessageType)
	for i := offMessageType + c; i < offSchemaVersion; i++ {
		f[i] = ' '
	}
	be.PutUint32(f[offSchemaVersion:], m.SchemaVersion)
	be.PutUint64(f[offCreatedDate:], m.CreatedDate)
	be.PutUint64(f[offSequenceNumber:], uint64(m.SequenceNumber))
	be.PutUint64(f[offFlags:], m.Flags)
	copy(f[offMessageID:offMessageID+8], m.MessageID[8:])
	copy(f[offMessageID+8:offDigest], m.MessageID[:8])
	sum := sha256.Sum256(m.Payload)
	copy(f[offDigest:offPayloadType], sum[:])
	if hl == HeaderLength {
		be.PutUint32(f[offPayloadType:], uint32(m.PayloadType))
	}
	be.PutUint32(f[hl:], uint32(len(m.Payload)))
	copy(f[hl+4:], m.Payload)
	return dst, nil
}

// MarshalBinary returns a newly allocated frame for m (see [AppendMessage]).
func (m *Message) MarshalBinary() ([]byte, error) {
	return AppendMessage(make([]byte, 0, m.EncodedLen()), m)
}

// UnmarshalBinary decodes frame into m like [Decode] but copies the payload,
// so m does not alias frame.
func (m *Message) UnmarshalBinary(frame []byte) error {
	if err := Decode(frame, m); err != nil {
		return err
	}
	if m.Payload != nil {
		m.Payload = append([]byte(nil), m.Payload...)
	}
	return nil
}

// Decode parses one frame into m. On success m.Payload aliases frame (no
// copy). It accepts HeaderLength 116 and the PayloadType-less 112 layout
// (PayloadType then reads as 0), strips NUL and white-space padding from the
// MessageType, and verifies the SHA-256 payload digest of non-empty payloads
// except for start_publication/pause_publication (§3.3).
//
// Errors: *TruncatedError if frame is shorter than its header or declared
// payload, *DigestError on a digest mismatch, *FormatError otherwise; all
// three match errors.Is(err, ErrMalformed). On error m is left unspecified.
func Decode(frame []byte, m *Message) error {
	if len(frame) < offPayloadType+4 {
		return &TruncatedError{Need: offPayloadType + 4, Have: len(frame)}
	}
	be := binary.BigEndian
	hl := be.Uint32(frame[offHeaderLength:])
	if hl != HeaderLength && hl != LegacyHeaderLength {
		return &FormatError{Field: "HeaderLength", Reason: fmt.Sprintf("%d, want %d or %d", hl, HeaderLength, LegacyHeaderLength)}
	}
	if len(frame) < int(hl)+4 {
		return &TruncatedError{Need: int(hl) + 4, Have: len(frame)}
	}
	m.MessageType = messageType(frame[offMessageType:offSchemaVersion])
	if m.MessageType == "" {
		return &FormatError{Field: "MessageType", Reason: "empty"}
	}
	m.SchemaVersion = be.Uint32(frame[offSchemaVersion:])
	m.CreatedDate = be.Uint64(frame[offCreatedDate:])
	m.SequenceNumber = int64(be.Uint64(frame[offSequenceNumber:]))
	m.Flags = be.Uint64(frame[offFlags:])
	copy(m.MessageID[8:], frame[offMessageID:offMessageID+8])
	copy(m.MessageID[:8], frame[offMessageID+8:offDigest])
	if hl == HeaderLength {
		m.PayloadType = PayloadType(be.Uint32(frame[offPayloadType:]))
	} else {
		m.PayloadType = PayloadNone
	}
	pl := uint64(be.Uint32(frame[hl:]))
	body := frame[hl+4:]
	if uint64(len(body)) < pl {
		return &TruncatedError{Need: int(hl) + 4 + int(pl), Have: len(frame)}
	}
	if uint64(len(body)) > pl {
		return &FormatError{Field: "PayloadLength", Reason: fmt.Sprintf("%d, but %d payload bytes follow the header", pl, len(body))}
	}
	m.Payload = body
	if pl != 0 && m.MessageType != TypeStartPublication && m.MessageType != TypePausePublication {
		sum := sha256.Sum256(body)
		if [32]byte(frame[offDigest:offPayloadType]) != sum {
			return &DigestError{MessageType: m.MessageType, SequenceNumber: m.SequenceNumber, Want: [32]byte(frame[offDigest:offPayloadType]), Got: sum}
		}
	}
	return nil
}

// messageType trims NUL bytes at both ends, then white space, and returns
// the known constants without allocating.
func messageType(b []byte) string {
	i, j := 0, len(b)
	for i < j && b[i] == 0 {
		i++
	}
	for j > i && b[j-1] == 0 {
		j--
	}
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	b = b[i:j]
	switch string(b) {
	case TypeInputStreamData:
		return TypeInputStreamData
	case TypeOutputStreamData:
		return TypeOutputStreamData
	case TypeAcknowledge:
		return TypeAcknowledge
	case TypeChannelClosed:
		return TypeChannelClosed
	case TypeStartPublication:
		return TypeStartPublication
	case TypePausePublication:
		return TypePausePublication
	case TypeAgentSessionState:
		return TypeAgentSessionState
	}
	return string(b)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// ErrMalformed matches (errors.Is) every error [Decode] returns.
var ErrMalformed = errors.New("malformed data-channel frame")

// TruncatedError reports a frame shorter than its header or declared payload.
type TruncatedError struct {
	Need int // bytes the frame must have
	Have int // bytes it has
}

// Error describes the malformed frame.
func (e *TruncatedError) Error() string {
	return fmt.Sprintf("truncated data-channel frame: %d bytes, need %d", e.Have, e.Need)
}

// Is reports true for [ErrMalformed].
func (e *TruncatedError) Is(target error) bool { return target == ErrMalformed }

// DigestError reports a payload whose SHA-256 does not match the frame's
// PayloadDigest: the frame was corrupted in transit or by the peer.
type DigestError struct {
	MessageType    string
	SequenceNumber int64
	Want           [32]byte // digest in the header
	Got            [32]byte // digest of the payload received
}

// Error describes the malformed frame.
func (e *DigestError) Error() string {
	return fmt.Sprintf("data-channel frame %s seq %d: payload SHA-256 %x does not match header digest %x (corrupted frame)",
		e.MessageType, e.SequenceNumber, e.Got[:4], e.Want[:4])
}

// Is reports true for [ErrMalformed].
func (e *DigestError) Is(target error) bool { return target == ErrMalformed }

// FormatError reports a frame or payload field with an impossible value.
type FormatError struct {
	Field  string
	Reason string
}

// Error describes the malformed frame.
func (e *FormatError) Error() string {
	return "malformed data-channel frame: " + e.Field + ": " + e.Reason
}

// Is reports true for [ErrMalformed].
func (e *FormatError) Is(target error) bool { return target == ErrMalformed }
