package session

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel causes matched with errors.Is on errors from Dial, OpenShell and
// OpenPortForward.
var (
	ErrTargetNotConnected = errors.New("target not connected to SSM")
	ErrAccessDenied       = errors.New("access denied")
	ErrInvalidDocument    = errors.New("invalid session document")
	ErrThrottled          = errors.New("request throttled")
	// ErrEncryptionUnsupported: the agent asks for KMS encryption where
	// Session Manager never uses it (a Port session, or before the session
	// type is known). KMS-encrypted shells are supported (see KMSError,
	// ChallengeError and DecryptError for their failures).
	ErrEncryptionUnsupported = errors.New("KMS encryption requested for a session type that is never encrypted")
)

// StartError is a failed StartSession call. Code is the AWS error code
// (TargetNotConnected, AccessDeniedException, InvalidDocument,
// ThrottlingException, …); Err is the SDK error.
type StartError struct {
	Target   string
	Document string
	Code     string
	Err      error
}

// Error describes the failure and what to do about it.
func (e *StartError) Error() string {
	switch e.Code {
	case "TargetNotConnected":
		return fmt.Sprintf("instance %s is not connected to SSM (agent offline?) — check `ssmtui doctor %s`", e.Target, e.Target)
	case "AccessDeniedException":
		return fmt.Sprintf("not allowed to start a session on %s with document %s: the caller needs ssm:StartSession on the instance and on the document (%v)", e.Target, e.Document, e.Err)
	case "InvalidDocument":
		return fmt.Sprintf("session document %s is not usable for %s (missing, wrong type or not shared): %v", e.Document, e.Target, e.Err)
	case "ThrottlingException":
		return fmt.Sprintf("start session on %s: SSM is throttling requests, retry in a moment: %v", e.Target, e.Err)
	}
	return fmt.Sprintf("start session on %s with document %s: %v", e.Target, e.Document, e.Err)
}

// Unwrap returns the underlying cause.
func (e *StartError) Unwrap() error { return e.Err }

// Is matches the sentinel for Code.
func (e *StartError) Is(target error) bool {
	switch target {
	case ErrTargetNotConnected:
		return e.Code == "TargetNotConnected"
	case ErrAccessDenied:
		return e.Code == "AccessDeniedException"
	case ErrInvalidDocument:
		return e.Code == "InvalidDocument"
	case ErrThrottled:
		return e.Code == "ThrottlingException" || e.Code == "ThrottledException" || e.Code == "RequestLimitExceeded"
	}
	return false
}

// HandshakeError is a data channel that failed before it was ready: the
// socket was refused or closed by the service (bad or expired token), the
// agent broke the handshake, or the context ended.
type HandshakeError struct {
	SessionID string
	Err       error
}

// Error describes the failure and what to do about it.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("open data channel for session %s: %v", e.SessionID, e.Err)
}

// Unwrap returns the underlying cause.
func (e *HandshakeError) Unwrap() error { return e.Err }

// errChannelRefused explains a socket closed before any agent traffic.
var errChannelRefused = errors.New("the service closed the data channel before the handshake (token rejected or session no longer valid)")

// ResumeError ends a session whose WebSocket was lost and could not be
// re-established with ResumeSession within the resume budget.
type ResumeError struct {
	SessionID string
	Attempts  int
	Elapsed   time.Duration
	Err       error // last failure
}

// Error describes the failure and what to do about it.
func (e *ResumeError) Error() string {
	return fmt.Sprintf("resume session %s: gave up after %d attempts in %s: %v", e.SessionID, e.Attempts, e.Elapsed.Round(time.Millisecond), e.Err)
}

// Unwrap returns the underlying cause.
func (e *ResumeError) Unwrap() error { return e.Err }

// SessionTerminatedError ends a session the service reports as finished
// while resuming (ResumeSession returned no token or DoesNotExist).
type SessionTerminatedError struct {
	SessionID string
	Reason    string
}

// Error describes the failure and what to do about it.
func (e *SessionTerminatedError) Error() string {
	return fmt.Sprintf("session %s was terminated: %s", e.SessionID, e.Reason)
}

// ConnectToPortError is returned on a forwarded stream when the agent could
// not connect to the destination port (Flag ConnectToPortError).
type ConnectToPortError struct {
	Target string
	Port   string
}

// Error describes the failure and what to do about it.
func (e *ConnectToPortError) Error() string {
	return fmt.Sprintf("agent on %s could not connect to destination port %s (is anything listening? check the SSM agent logs)", e.Target, e.Port)
}
