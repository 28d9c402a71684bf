package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
)

const cxKMSKey = "arn:aws:kms:us-east-1:" + cxAccount + ":key/5a1e5a1e-0000-4000-8000-00000000c0de"

// TestShellKMS: `ssmtui shell` on an account whose Session Manager
// preferences enable KMS encryption runs the KMS handshake (one
// GenerateDataKey with the profile's credentials), the encrypted shell
// works end to end, and the agent's message is shown on stderr.
func TestShellKMS(t *testing.T) {
	f := cxFleet()
	f.Accounts[0].SessionKMSKeyID = cxKMSKey
	e := newCxEnv(t, sandbox.Options{Fleet: f})
	t.Setenv("AWS_ENDPOINT_URL_KMS", "")
	r := e.run(t, strings.NewReader("echo answer=$((6*7))\nexit\n"), "shell", "web")
	if r.code != 0 {
		t.Fatalf("shell: code %d stderr %q", r.code, r.stderr)
	}
	wantContains(t, "stdout", r.stdout, "answer=42")
	wantContains(t, "stderr", r.stderr, "This session is encrypted using AWS KMS.")
	if n := e.sb.Stats().Calls["kms.GenerateDataKey"]; n != 1 {
		t.Fatalf("%d GenerateDataKey calls", n)
	}
	waitCalls(t, e.sb, "ssm.TerminateSession", 1)
}

// TestExplainKMSDenied: a KMS AccessDenied is explained as the missing
// kms:GenerateDataKey on the key, not as a StartSession denial.
func TestExplainKMSDenied(t *testing.T) {
	kerr := &session.KMSError{KeyID: cxKMSKey, Code: "AccessDeniedException", Err: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"}}
	err := explainSessionError(&session.HandshakeError{SessionID: "s-1", Err: kerr}, inventory.Instance{ID: cxWeb, Name: "web", Profile: cxProfile, Region: "us-east-1"}, session.DocumentShell)
	if !strings.Contains(err.Error(), "KMS key "+cxKMSKey) || !strings.Contains(err.Error(), "need kms:GenerateDataKey") || strings.Contains(err.Error(), "ssm:StartSession") {
		t.Fatalf("got %v", err)
	}
	if !errors.As(err, new(*session.KMSError)) {
		t.Fatalf("cause lost: %v", err)
	}
}
