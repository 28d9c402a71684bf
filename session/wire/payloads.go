package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Acknowledge is the JSON payload of an acknowledge frame (§5.1). Receivers
// match acks only by AcknowledgedMessageSequenceNumber.
type Acknowledge struct {
	AcknowledgedMessageType           string `json:"AcknowledgedMessageType"`
	AcknowledgedMessageID             string `json:"AcknowledgedMessageId"`
	AcknowledgedMessageSequenceNumber int64  `json:"AcknowledgedMessageSequenceNumber"`
	IsSequentialMessage               bool   `json:"IsSequentialMessage"`
}

// AppendAcknowledge appends the §5.1 JSON acknowledging the stream message
// (msgType, id, seq) to dst, byte-identical to encoding/json's output of
// [Acknowledge] with IsSequentialMessage true, without allocating.
func AppendAcknowledge(dst []byte, msgType string, id uuid.UUID, seq int64) []byte {
	dst = append(dst, `{"AcknowledgedMessageType":`...)
	dst = strconv.AppendQuote(dst, msgType)
	dst = append(dst, `,"AcknowledgedMessageId":"`...)
	var s [36]byte
	hexUUID(&s, id)
	dst = append(dst, s[:]...)
	dst = append(dst, `","AcknowledgedMessageSequenceNumber":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	return append(dst, `,"IsSequentialMessage":true}`...)
}

func hexUUID(dst *[36]byte, u uuid.UUID) {
	const hex = "0123456789abcdef"
	j := 0
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j], dst[j+1] = hex[b>>4], hex[b&0xf]
		j += 2
	}
}

// AckSequenceNumber returns AcknowledgedMessageSequenceNumber from an
// acknowledge payload. It scans for the field without a full JSON decode
// (acks arrive once per message) and falls back to [ParseAcknowledge] for
// anything unusual.
func AckSequenceNumber(p []byte) (int64, error) {
	const key = `"AcknowledgedMessageSequenceNumber":`
	if i := bytes.Index(p, []byte(key)); i >= 0 && bytes.Count(p, []byte(key)) == 1 {
		rest := p[i+len(key):]
		for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r') {
			rest = rest[1:]
		}
		j := 0
		if j < len(rest) && rest[j] == '-' {
			j++
		}
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j < len(rest) && (rest[j] == ',' || rest[j] == '}' || rest[j] == ' ') {
			if n, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
				return n, nil
			}
		}
	}
	a, err := ParseAcknowledge(p)
	return a.AcknowledgedMessageSequenceNumber, err
}

// ParseAcknowledge decodes an acknowledge payload.
func ParseAcknowledge(p []byte) (Acknowledge, error) {
	var a Acknowledge
	if err := json.Unmarshal(p, &a); err != nil {
		return a, fmt.Errorf("parse acknowledge payload: %w", &FormatError{Field: "acknowledge", Reason: err.Error()})
	}
	return a, nil
}

// ChannelClosed is the JSON payload of a channel_closed frame (§10.1).
// Output carries the failure text when the session failed.
type ChannelClosed struct {
	MessageID     string `json:"MessageId"`
	CreatedDate   string `json:"CreatedDate"`
	DestinationID string `json:"DestinationId"`
	SessionID     string `json:"SessionId"`
	MessageType   string `json:"MessageType"`
	SchemaVersion int    `json:"SchemaVersion"`
	Output        string `json:"Output"`
}

// Handshake action types (§7.3).
const (
	ActionSessionType   = "SessionType"
	ActionKMSEncryption = "KMSEncryption"
)

// ActionStatus values of a ProcessedClientAction (§7.4).
const (
	ActionSuccess     = 1
	ActionFailed      = 2
	ActionUnsupported = 3
)

// Session types delivered in the SessionType action (§1.3).
const (
	SessionTypeStandardStream         = "Standard_Stream"
	SessionTypePort                   = "Port"
	SessionTypeInteractiveCommands    = "InteractiveCommands"
	SessionTypeNonInteractiveCommands = "NonInteractiveCommands"
)

// PortTypeLocalPortForwarding is the Properties.type value that selects the
// basic/mux port modes instead of stdio (§9.2).
const PortTypeLocalPortForwarding = "LocalPortForwarding"

// HandshakeRequest is the agent's PayloadHandshakeRequest JSON (§7.3).
type HandshakeRequest struct {
	AgentVersion           string                  `json:"AgentVersion"`
	RequestedClientActions []RequestedClientAction `json:"RequestedClientActions"`
}

// RequestedClientAction is one action of a HandshakeRequest. ActionParameters
// is a [SessionTypeRequest] or a [KMSEncryptionRequest] depending on
// ActionType; it is kept raw so unknown actions survive.
type RequestedClientAction struct {
	ActionType       string          `json:"ActionType"`
	ActionParameters json.RawMessage `json:"ActionParameters"`
}

// SessionTypeRequest is the ActionParameters of a SessionType action.
// Properties is the document's properties object (null for shells).
type SessionTypeRequest struct {
	SessionType string          `json:"SessionType"`
	Properties  json.RawMessage `json:"Properties"`
}

// KMSEncryptionRequest is the ActionParameters of a KMSEncryption action.
type KMSEncryptionRequest struct {
	KMSKeyID  string `json:"KMSKeyId"`
	Challenge string `json:"Challenge,omitempty"`
}

// PortProperties are the Properties of a Port session (§1.3); every value is
// a string. Type is empty for AWS-StartSSHSession (stdio mode).
type PortProperties struct {
	PortNumber          string `json:"portNumber,omitempty"`
	LocalPortNumber     string `json:"localPortNumber,omitempty"`
	Host                string `json:"host,omitempty"`
	Type                string `json:"type,omitempty"`
	LocalUnixSocket     string `json:"localUnixSocket,omitempty"`
	LocalConnectionType string `json:"localConnectionType,omitempty"`
}

// HandshakeResponse is the client's PayloadHandshakeResponse JSON (§7.4).
type HandshakeResponse struct {
	ClientVersion          string                  `json:"ClientVersion"`
	ProcessedClientActions []ProcessedClientAction `json:"ProcessedClientActions"`
	Errors                 []string                `json:"Errors"`
}

// ProcessedClientAction answers one RequestedClientAction, in the same order.
type ProcessedClientAction struct {
	ActionType   string          `json:"ActionType"`
	ActionStatus int             `json:"ActionStatus"`
	ActionResult json.RawMessage `json:"ActionResult"`
	Error        string          `json:"Error"`
}

// KMSEncryptionResult is the ActionResult of a successful KMSEncryption action.
type KMSEncryptionResult struct {
	KMSCipherTextKey         []byte `json:"KMSCipherTextKey"`
	KMSCipherTextHash        []byte `json:"KMSCipherTextHash"`
	ChallengeAcknowledgement bool   `json:"ChallengeAcknowledgement,omitempty"`
}

// HandshakeComplete is the agent's PayloadHandshakeComplete JSON (§7.5).
type HandshakeComplete struct {
	HandshakeTimeToComplete time.Duration `json:"HandshakeTimeToComplete"` // nanoseconds on the wire
	CustomerMessage         string        `json:"CustomerMessage"`
}

// EncChallenge is the JSON of EncChallengeRequest/Response (§8.4).
type EncChallenge struct {
	Challenge []byte `json:"Challenge"`
}

// Size is the PayloadSize JSON a shell client sends (§9.1), field order cols, rows.
type Size struct {
	Cols uint32 `json:"cols"`
	Rows uint32 `json:"rows"`
}

// AgentSessionState is the agent_session_state JSON (§4.1).
type AgentSessionState struct {
	SchemaVersion int    `json:"SchemaVersion"`
	SessionState  string `json:"SessionState"`
	SessionID     string `json:"SessionId"`
}

// OpenDataChannelInput is the first (text) WebSocket message on a data
// channel (§2.2). Clients fill ClientId and ClientVersion; the agent's open
// frame also carries ClientInstanceId.
type OpenDataChannelInput struct {
	MessageSchemaVersion string `json:"MessageSchemaVersion"`
	RequestID            string `json:"RequestId"`
	TokenValue           string `json:"TokenValue"`
	ClientID             string `json:"ClientId,omitempty"`
	ClientVersion        string `json:"ClientVersion,omitempty"`
	ClientInstanceID     string `json:"ClientInstanceId,omitempty"`
}

// OpenSchemaVersion is the only MessageSchemaVersion of OpenDataChannelInput.
const OpenSchemaVersion = "1.0"
