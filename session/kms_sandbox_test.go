package session_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/session/wire"
)

const (
	kmsKeyARN    = "arn:aws:kms:us-east-1:123456789012:key/0b6f7c3e-1a2b-4c5d-8e9f-0123456789ab"
	kmsOtherAKID = "AKIDOTHERACCOUNT1"
)

// kmsFleet is sbFleet with KMS session encryption on, plus a second
// account without the key.
func kmsFleet() *sandbox.Fleet {
	f := sbFleet()
	f.Accounts[0].SessionKMSKeyID = kmsKeyARN
	f.Accounts = append(f.Accounts, sandbox.Account{ID: "210987654321", AccessKeyID: kmsOtherAKID, SecretAccessKey: "secret", Regions: []string{sbRegion}})
	return f
}

// frameTap records the relayed frames, decoded.
type frameTap struct {
	mu     sync.Mutex
	frames []tapped
}

type tapped struct {
	toAgent bool
	raw     []byte
	m       wire.Message
}

func (t *frameTap) tap(toAgent bool, b []byte) {
	var m wire.Message
	if wire.Decode(b, &m) != nil {
		return
	}
	t.mu.Lock()
	t.frames = append(t.frames, tapped{toAgent: toAgent, raw: b, m: m})
	t.mu.Unlock()
}

func (t *frameTap) snapshot() []tapped {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]tapped(nil), t.frames...)
}

func startKMSSB(t *testing.T, gw sandbox.GatewayOptions) *sandbox.Sandbox {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gw.Shell = "/bin/sh"
	sb, err := sandbox.Start(ctx, sandbox.Options{Fleet: kmsFleet(), Gateway: gw})
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

func readUntil(t *testing.T, r *bufio.Reader, marker string) string {
	t.Helper()
	var out strings.Builder
	for !strings.Contains(out.String(), marker) {
		line, err := r.ReadString('\n')
		out.WriteString(line)
		if err != nil {
			t.Fatalf("shell output %q: %v", out.String(), err)
		}
	}
	return out.String()
}

// TestSandboxKMSShell runs an encrypted shell through the gateway with the
// default (SDK) KMS client, with and without the agent's random challenge
// context (§8.4), and checks the wire: the command and its output never
// cross in clear, the challenge went both ways.
func TestSandboxKMSShell(t *testing.T) {
	for _, noChallenge := range []bool{false, true} {
		name := "challenge-context"
		if noChallenge {
			name = "plain-context"
		}
		t.Run(name, func(t *testing.T) {
			tap := &frameTap{}
			sb := startKMSSB(t, sandbox.GatewayOptions{Tap: tap.tap, KMSNoChallenge: noChallenge})
			sh, err := session.OpenShell(ctxFor(t, 20*time.Second), sbConfig(t, sb.URL()), sbInst, session.ShellOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer sh.Close()
			if key, ok := sh.Encrypted(); !ok || key != kmsKeyARN {
				t.Fatalf("Encrypted() = %q, %v", key, ok)
			}
			if m := sh.CustomerMessage(); m != "This session is encrypted using AWS KMS." {
				t.Fatalf("CustomerMessage %q", m)
			}
			sh.Write([]byte("echo secret-$((6*7))-done\n"))
			out := readUntil(t, bufio.NewReader(sh), "secret-42-done")
			if !strings.Contains(out, "secret-42-done") {
				t.Fatalf("output %q", out)
			}
			sh.Close()

			var challengeReq, challengeResp, ack bool
			var encOut int
			for _, f := range tap.snapshot() {
				if bytes.Contains(f.raw, []byte("secret-")) || bytes.Contains(f.raw, []byte("6*7")) {
					t.Fatalf("plain text crossed the gateway (toAgent=%v, PT %v): %q", f.toAgent, f.m.PayloadType, f.m.Payload)
				}
				switch {
				case f.m.MessageType == wire.TypeOutputStreamData && f.m.PayloadType == wire.PayloadEncChallengeRequest:
					challengeReq = true
				case f.m.MessageType == wire.TypeInputStreamData && f.m.PayloadType == wire.PayloadEncChallengeResponse:
					challengeResp = true
				case f.m.MessageType == wire.TypeInputStreamData && f.m.PayloadType == wire.PayloadHandshakeResponse:
					ack = bytes.Contains(f.m.Payload, []byte(`"ChallengeAcknowledgement":true`))
				case f.m.PayloadType == wire.PayloadOutput && f.m.MessageType != wire.TypeAcknowledge:
					if len(f.m.Payload) < 12+16 {
						t.Fatalf("Output payload of %d bytes cannot be nonce||ct||tag", len(f.m.Payload))
					}
					encOut++
				}
			}
			if !challengeReq || !challengeResp {
				t.Fatalf("challenge request %v, response %v", challengeReq, challengeResp)
			}
			if ack == noChallenge {
				t.Fatalf("ChallengeAcknowledgement %v with agent challenge %v", ack, !noChallenge)
			}
			if encOut < 2 {
				t.Fatalf("only %d Output frames seen", encOut)
			}
		})
	}
}

func otherAccountKMS(t *testing.T, endpoint string) *kms.Client {
	t.Helper()
	return kms.NewFromConfig(sbConfigFor(t, endpoint, kmsOtherAKID))
}

// TestSandboxKMSGenerateDataKeyDenied: a caller whose KMS credentials may
// not use the key (another account, no grant) gets a *KMSError naming the
// permission and the key; the agent is told the action failed and the
// session is terminated.
func TestSandboxKMSGenerateDataKeyDenied(t *testing.T) {
	sb := startKMSSB(t, sandbox.GatewayOptions{})
	ctx := ctxFor(t, 20*time.Second)
	_, err := session.OpenShell(ctx, sbConfig(t, sb.URL()), sbInst, session.ShellOptions{
		DialOptions: session.DialOptions{KMS: otherAccountKMS(t, sb.URL())},
	})
	var ke *session.KMSError
	if !errors.As(err, &ke) || ke.Code != "AccessDeniedException" || !errors.Is(err, session.ErrAccessDenied) {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), "needs kms:GenerateDataKey on "+kmsKeyARN) {
		t.Fatalf("message does not name permission and key: %v", err)
	}
	if !errors.As(err, new(*session.HandshakeError)) {
		t.Fatalf("not a handshake error: %v", err)
	}
}
