package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/session/wire"
)

const (
	testKMSKey    = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	otherAKID     = "AKIDSANDBOXOTHER"
	otherKMSKey   = "arn:aws:kms:us-east-1:210987654321:key/feedface-0000-1111-2222-333344445555"
	kmsCustomText = "This session is encrypted using AWS KMS."
)

// kmsTestFleet is testFleet with session encryption on, plus a second
// account with its own key.
func kmsTestFleet() *sandbox.Fleet {
	f := testFleet()
	f.Accounts[0].SessionKMSKeyID = testKMSKey
	f.Accounts = append(f.Accounts, sandbox.Account{ID: "210987654321", AccessKeyID: otherAKID, SecretAccessKey: testSecret,
		Regions: []string{testRegion}, SessionKMSKeyID: otherKMSKey})
	return f
}

func kmsClient(t *testing.T, sb *sandbox.Sandbox, akid string) *kms.Client {
	return kms.NewFromConfig(awsConfig(t, sb.URL(), config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(akid, testSecret, ""))))
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestKMSGenerateDataKeyDecrypt(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Fleet: kmsTestFleet()})
	c := kmsClient(t, sb, testAKID)
	ctx := testContext(t, 20*time.Second)
	ec := map[string]string{"aws:ssm:SessionId": "alice-0123", "aws:ssm:TargetId": instOnline}
	gen, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(testKMSKey), NumberOfBytes: aws.Int32(64), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if len(gen.Plaintext) != 64 || len(gen.CiphertextBlob) == 0 || aws.ToString(gen.KeyId) != testKMSKey {
		t.Fatalf("GenerateDataKey: %d-byte key, %d-byte blob, key %q", len(gen.Plaintext), len(gen.CiphertextBlob), aws.ToString(gen.KeyId))
	}
	if bytes.Contains(gen.CiphertextBlob, gen.Plaintext) {
		t.Fatal("blob carries the plain key")
	}
	gen2, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(testKMSKey), NumberOfBytes: aws.Int32(64), EncryptionContext: ec})
	if err != nil || bytes.Equal(gen2.Plaintext, gen.Plaintext) {
		t.Fatalf("second data key equal to the first or failed: %v", err)
	}

	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, EncryptionContext: ec, KeyId: aws.String(testKMSKey)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec.Plaintext, gen.Plaintext) || aws.ToString(dec.KeyId) != testKMSKey {
		t.Fatalf("Decrypt returned another key (%q)", aws.ToString(dec.KeyId))
	}
	// The bare key ID names the same key; KeyId is optional on Decrypt.
	if _, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("1234abcd-12ab-34cd-56ef-1234567890ab"), KeySpec: types.DataKeySpecAes256}); err != nil {
		t.Fatalf("bare key ID: %v", err)
	}
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, EncryptionContext: ec}); err != nil {
		t.Fatalf("Decrypt without KeyId: %v", err)
	}

	// Another TargetId (the ECS pitfall of §8.1), a missing context and a
	// flipped bit all fail like the real service.
	wrong := map[string]string{"aws:ssm:SessionId": "alice-0123", "aws:ssm:TargetId": "i-0ffffffffffffffff"}
	var ice *types.InvalidCiphertextException
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, EncryptionContext: wrong}); !errors.As(err, &ice) {
		t.Fatalf("context mismatch: %v", err)
	}
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob}); !errors.As(err, &ice) {
		t.Fatalf("missing context: %v", err)
	}
	bad := bytes.Clone(gen.CiphertextBlob)
	bad[len(bad)-3] ^= 1
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: bad, EncryptionContext: ec}); !errors.As(err, &ice) {
		t.Fatalf("corrupt blob: %v", err)
	}
	// Keys are per account.
	var nf *types.NotFoundException
	if _, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"), NumberOfBytes: aws.Int32(64)}); !errors.As(err, &nf) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(otherKMSKey), NumberOfBytes: aws.Int32(64)}); apiCode(err) != "AccessDeniedException" {
		t.Fatalf("other account's key: %v", err)
	}
	other := kmsClient(t, sb, otherAKID)
	if _, err := other.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, EncryptionContext: ec}); !errors.As(err, &ice) {
		t.Fatalf("other account decrypting: %v", err)
	}
	if _, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(testKMSKey), NumberOfBytes: aws.Int32(2000)}); apiCode(err) != "ValidationException" {
		t.Fatalf("NumberOfBytes 2000: %v", err)
	}
}

func TestKMSFleetValidate(t *testing.T) {
	for _, key := range []string{"alias/ssm", "arn:aws:kms:us-east-1:999999999999:key/abc", "arn:aws:kms:us-east-1:123456789012:alias/x"} {
		f := testFleet()
		f.Accounts[0].SessionKMSKeyID = key
		if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "sessionKmsKeyId") {
			t.Errorf("%s: %v", key, err)
		}
	}
	f := kmsTestFleet()
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
}

// kmsAnswer is how runKMSHandshake answers the agent.
type kmsAnswer struct {
	targetID    string // TargetId of the encryption context (default: the instance)
	badAnswer   bool   // answer the challenge with garbage
	acknowledge bool   // ChallengeAcknowledgement with the challenge in the context
}

func startShell(t *testing.T, sb *sandbox.Sandbox) *testClient {
	t.Helper()
	api := ssmClient(t, sb)
	out, err := api.StartSession(testContext(t, 10*time.Second), &ssm.StartSessionInput{Target: aws.String(instOnline)})
	if err != nil {
		t.Fatal(err)
	}
	return openClient(t, api, out, nil)
}

// runKMSHandshake answers the HandshakeRequest with a real GenerateDataKey
// and the challenge as a says; it returns the KMS action parameters, the
// client cipher and the error that ended the handshake (nil: complete).
func runKMSHandshake(t *testing.T, sb *sandbox.Sandbox, c *testClient, a kmsAnswer) (wire.KMSEncryptionRequest, *session.PayloadCipher, string, error) {
	t.Helper()
	ctx := testContext(t, 20*time.Second)
	var kreq wire.KMSEncryptionRequest
	var pc *session.PayloadCipher
	for {
		pt, p, err := c.st.Recv(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("handshake hung")
			}
			return kreq, pc, "", c.st.Err()
		}
		switch pt {
		case wire.PayloadHandshakeRequest:
			var req wire.HandshakeRequest
			if err := json.Unmarshal(p, &req); err != nil {
				t.Fatal(err)
			}
			var acts []wire.ProcessedClientAction
			for _, act := range req.RequestedClientActions {
				pa := wire.ProcessedClientAction{ActionType: act.ActionType, ActionStatus: wire.ActionSuccess}
				if act.ActionType == wire.ActionKMSEncryption {
					if err := json.Unmarshal(act.ActionParameters, &kreq); err != nil {
						t.Fatal(err)
					}
					target := a.targetID
					if target == "" {
						target = instOnline
					}
					ec := map[string]string{"aws:ssm:SessionId": c.id, "aws:ssm:TargetId": target}
					if a.acknowledge {
						ec["aws:ssm:RandomChallenge"] = kreq.Challenge
					}
					gen, err := kmsClient(t, sb, testAKID).GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(kreq.KMSKeyID), NumberOfBytes: aws.Int32(64), EncryptionContext: ec})
					if err != nil {
						t.Fatal(err)
					}
					if pc, err = session.NewPayloadCipher(session.RoleClient, gen.Plaintext); err != nil {
						t.Fatal(err)
					}
					c.st.SetCipher(pc)
					pa.ActionResult, _ = json.Marshal(wire.KMSEncryptionResult{KMSCipherTextKey: gen.CiphertextBlob, ChallengeAcknowledgement: a.acknowledge})
				}
				acts = append(acts, pa)
			}
			resp, _ := json.Marshal(wire.HandshakeResponse{ClientVersion: testClientVersion, ProcessedClientActions: acts})
			if err := c.st.Send(ctx, wire.PayloadHandshakeResponse, resp); err != nil {
				t.Fatal(err)
			}
		case wire.PayloadEncChallengeRequest:
			var ch wire.EncChallenge
			if err := json.Unmarshal(p, &ch); err != nil {
				t.Fatal(err)
			}
			plain, err := pc.Open(ch.Challenge)
			if err != nil {
				t.Fatalf("agent challenge does not decrypt with the agent→client key: %v", err)
			}
			if len(plain) != 64 {
				t.Fatalf("challenge of %d bytes", len(plain))
			}
			if a.badAnswer {
				plain[0] ^= 1
			}
			b, _ := json.Marshal(wire.EncChallenge{Challenge: pc.Seal(plain)})
			if err := c.st.Send(ctx, wire.PayloadEncChallengeResponse, b); err != nil {
				t.Fatal(err)
			}
		case wire.PayloadHandshakeComplete:
			var hc wire.HandshakeComplete
			_ = json.Unmarshal(p, &hc)
			return kreq, pc, hc.CustomerMessage, nil
		default:
			t.Fatalf("unexpected %v during the KMS handshake", pt)
		}
	}
}

func TestAgentKMSHandshake(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Fleet: kmsTestFleet(), Gateway: sandbox.GatewayOptions{Shell: "/bin/sh"}})
	for _, ack := range []bool{true, false} {
		c := startShell(t, sb)
		kreq, pc, msg, err := runKMSHandshake(t, sb, c, kmsAnswer{acknowledge: ack})
		if err != nil {
			t.Fatalf("ack %v: %v", ack, err)
		}
		if kreq.KMSKeyID != testKMSKey || kreq.Challenge == "" || msg != kmsCustomText || pc == nil {
			t.Fatalf("KMS action %+v, message %q", kreq, msg)
		}
		// The agent decrypts our Output and encrypts its own (the
		// stream opens it with the cipher; a plain payload would fail).
		ctx := testContext(t, 20*time.Second)
		if err := c.st.Send(ctx, wire.PayloadOutput, []byte("echo kms-$((40+2))\n")); err != nil {
			t.Fatal(err)
		}
		var out []byte
		for !bytes.Contains(out, []byte("kms-42")) {
			pt, p, err := c.st.Recv(ctx)
			if err != nil {
				t.Fatalf("output %q: %v", out, err)
			}
			if pt == wire.PayloadOutput {
				out = append(out, p...)
			}
		}
	}
}

func TestAgentKMSHandshakeFailures(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Fleet: kmsTestFleet(), Gateway: sandbox.GatewayOptions{Shell: "/bin/sh"}})
	for name, tc := range map[string]struct {
		a    kmsAnswer
		want string
	}{
		"challenge mismatch": {kmsAnswer{badAnswer: true}, "Encryption challenge failed"},
		"wrong target id":    {kmsAnswer{targetID: "i-0ffffffffffffffff"}, "InvalidCiphertextException"},
	} {
		t.Run(name, func(t *testing.T) {
			c := startShell(t, sb)
			_, _, _, err := runKMSHandshake(t, sb, c, tc.a)
			var cc *session.ChannelClosedError
			if !errors.As(err, &cc) || !strings.Contains(cc.Output, tc.want) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// TestAgentKMSPortSessionsClear: Port sessions never run KMS, even when
// the account enables it.
func TestAgentKMSPortSessionsClear(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Fleet: kmsTestFleet()})
	api := ssmClient(t, sb)
	ctx := testContext(t, 20*time.Second)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartSSHSession"), Parameters: map[string][]string{"portNumber": {"22"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := openClient(t, api, out, nil)
	pt, p, err := c.st.Recv(ctx)
	if err != nil || pt != wire.PayloadHandshakeRequest {
		t.Fatalf("first message %v %v", pt, err)
	}
	var req wire.HandshakeRequest
	_ = json.Unmarshal(p, &req)
	for _, a := range req.RequestedClientActions {
		if a.ActionType == wire.ActionKMSEncryption {
			t.Fatal("KMSEncryption requested for a Port session")
		}
	}
	if len(req.RequestedClientActions) != 1 {
		t.Fatalf("actions %+v", req.RequestedClientActions)
	}
}
