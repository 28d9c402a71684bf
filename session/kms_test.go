package session

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/ssmtui/ssmtui/session/wire"
)

func testDataKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, DataKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func testCiphers(t *testing.T) (client, agent *PayloadCipher) {
	t.Helper()
	k := testDataKey(t)
	c, err := NewPayloadCipher(RoleClient, k)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewPayloadCipher(RoleAgent, k)
	if err != nil {
		t.Fatal(err)
	}
	return c, a
}

func TestPayloadCipherKeySplitAndFraming(t *testing.T) {
	k := testDataKey(t)
	c, _ := NewPayloadCipher(RoleClient, k)
	a, _ := NewPayloadCipher(RoleAgent, k)
	msg := []byte("uname -a\n")

	// Client → agent: Plaintext[32:64], random nonce, nonce||ct||tag.
	sealed := c.Seal(msg)
	if len(sealed) != 12+len(msg)+16 {
		t.Fatalf("sealed length %d", len(sealed))
	}
	if bytes.Contains(sealed, msg) {
		t.Fatal("plain text visible in sealed payload")
	}
	if got, err := a.Open(sealed); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("agent open: %q %v", got, err)
	}
	if _, err := c.Open(sealed); err == nil {
		t.Fatal("client opened its own direction: keys not split")
	}
	// Independent check of the split with the standard library.
	open := func(key, b []byte) ([]byte, error) {
		g, _ := newGCM(key)
		return g.Open(nil, b[:12], b[12:], nil)
	}
	if got, err := open(k[32:], sealed); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("client→agent is not Plaintext[32:64]: %v", err)
	}
	fromAgent := a.Seal(msg)
	if got, err := open(k[:32], fromAgent); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("agent→client is not Plaintext[0:32]: %v", err)
	}
	if got, err := c.Open(fromAgent); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("client open: %q %v", got, err)
	}
	if bytes.Equal(c.Seal(msg)[:12], c.Seal(msg)[:12]) {
		t.Fatal("client nonces repeat")
	}
	// Tampering is detected.
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	if _, err := a.Open(bad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered payload: %v", err)
	}
	if _, err := NewPayloadCipher(RoleClient, k[:32]); err == nil {
		t.Fatal("32-byte data key accepted")
	}
}

func TestPayloadCipherAgentCounterNonce(t *testing.T) {
	_, a := testCiphers(t)
	a.nonce = [3]uint32{0xffffffff, 0xffffffff, 7}
	n1 := a.Seal([]byte("x"))[:12]
	n2 := a.Seal([]byte("x"))[:12]
	n3 := a.Seal([]byte("x"))[:12]
	words := func(n []byte) [3]uint32 {
		return [3]uint32{binary.LittleEndian.Uint32(n), binary.LittleEndian.Uint32(n[4:]), binary.LittleEndian.Uint32(n[8:])}
	}
	if w := words(n1); w != [3]uint32{0xffffffff, 0xffffffff, 7} {
		t.Fatalf("first nonce %x", w)
	}
	if w := words(n2); w != [3]uint32{0, 0, 8} {
		t.Fatalf("carry not propagated: %x", w)
	}
	if w := words(n3); w != [3]uint32{1, 0, 8} {
		t.Fatalf("third nonce %x", w)
	}
}

// TestStreamCipherPayloadTypes: with a cipher the client stream seals only
// Output and opens the agent's Output/StdErr/ExitCode; Size and the
// handshake payloads stay clear.
func TestStreamCipherPayloadTypes(t *testing.T) {
	s, peer := newTestStream(t, StreamConfig{Role: RoleClient})
	c, a := testCiphers(t)
	s.SetCipher(c)
	ctx := testCtx(t)

	s.Send(ctx, wire.PayloadOutput, []byte("ls -l\n"))
	m := peer.nextData()
	if bytes.Contains(m.Payload, []byte("ls -l")) {
		t.Fatal("Output sent in clear")
	}
	if got, err := a.Open(m.Payload); err != nil || string(got) != "ls -l\n" {
		t.Fatalf("agent decrypt: %q %v", got, err)
	}
	s.Send(ctx, wire.PayloadSize, []byte(`{"cols":80,"rows":24}`))
	if m := peer.nextData(); string(m.Payload) != `{"cols":80,"rows":24}` {
		t.Fatalf("Size must be clear: %q", m.Payload)
	}

	peer.data(0, wire.PayloadOutput, a.Seal([]byte("total 0\n")))
	peer.data(1, wire.PayloadStdErr, a.Seal([]byte("warn\n")))
	peer.data(2, wire.PayloadExitCode, a.Seal([]byte("EXIT_CODE:0")))
	peer.data(3, wire.PayloadHandshakeComplete, []byte(`{}`))
	for i, want := range []string{"total 0\n", "warn\n", "EXIT_CODE:0", "{}"} {
		_, p, err := s.Recv(ctx)
		if err != nil || string(p) != want {
			t.Fatalf("message %d: %q %v", i, p, err)
		}
	}
}

// TestStreamCipherCorruptPayload: a payload that fails authentication ends
// the stream with a *DecryptError; neither it nor anything after it is
// delivered.
func TestStreamCipherCorruptPayload(t *testing.T) {
	s, peer := newTestStream(t, StreamConfig{Role: RoleClient})
	c, a := testCiphers(t)
	s.SetCipher(c)
	ctx := testCtx(t)
	bad := a.Seal([]byte("rm -rf /tmp/x\n"))
	bad[20] ^= 0x40
	peer.data(0, wire.PayloadOutput, bad)
	peer.data(1, wire.PayloadOutput, a.Seal([]byte("after\n")))
	_, p, err := s.Recv(ctx)
	var de *DecryptError
	if !errors.As(err, &de) || !errors.Is(err, ErrDecrypt) || de.PayloadType != wire.PayloadOutput || p != nil {
		t.Fatalf("got %q, %v", p, err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("stream still open after a corrupt payload")
	}
	if _, p, err := s.Recv(ctx); !errors.As(err, &de) {
		t.Fatalf("later Recv delivered %q, %v", p, err)
	}
	if err := s.Send(ctx, wire.PayloadOutput, []byte("x")); err == nil {
		t.Fatal("Send after decrypt failure succeeded")
	}
}

// TestConnCipherCorruptPayload: through a Conn the corrupt payload is a
// read error wrapping *DecryptError, never bytes.
func TestConnCipherCorruptPayload(t *testing.T) {
	s, peer := newTestStream(t, StreamConfig{Role: RoleClient})
	c, a := testCiphers(t)
	s.SetCipher(c)
	conn := newConn(s, Addr{Target: "s-1"}, Addr{Target: "i-1"}, nil)
	peer.data(0, wire.PayloadOutput, a.Seal([]byte("ok\n")))
	bad := a.Seal([]byte("garbage\n"))
	bad[0] ^= 1 // nonce
	peer.data(1, wire.PayloadOutput, bad)
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "ok\n" {
		t.Fatalf("first read %q %v", buf[:n], err)
	}
	n, err = conn.Read(buf)
	var oe *net.OpError
	if n != 0 || !errors.As(err, &oe) || !errors.Is(err, ErrDecrypt) {
		t.Fatalf("second read %q %v", buf[:n], err)
	}
}

func TestShellKMSFake(t *testing.T) {
	f := newFakeService(t)
	f.sessionType = wire.SessionTypeStandardStream
	f.props = nil
	f.kms = true
	fk := &fakeKMS{}
	sh, err := OpenShell(testCtx(t), f.awsConfig(), testTarget, ShellOptions{DialOptions: DialOptions{KMS: fk}})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if len(fk.in) != 1 {
		t.Fatalf("%d GenerateDataKey calls", len(fk.in))
	}
	in := fk.in[0]
	wantEC := map[string]string{"aws:ssm:SessionId": sh.SessionID(), "aws:ssm:TargetId": testTarget}
	if *in.KeyId != "alias/x" || *in.NumberOfBytes != 64 || len(in.EncryptionContext) != 2 ||
		in.EncryptionContext["aws:ssm:SessionId"] != wantEC["aws:ssm:SessionId"] || in.EncryptionContext["aws:ssm:TargetId"] != testTarget {
		t.Fatalf("GenerateDataKey input %+v", in)
	}
	if key, ok := sh.Encrypted(); !ok || key != "alias/x" {
		t.Fatalf("Encrypted %q %v", key, ok)
	}
	sh.Write([]byte("pwd\n"))
	if got := readN(t, sh, 4); got != "pwd\n" {
		t.Fatalf("echo %q", got)
	}
}

func TestShellKMSBadAgentChallenge(t *testing.T) {
	f := newFakeService(t)
	f.sessionType = wire.SessionTypeStandardStream
	f.props = nil
	f.kms = true
	f.kmsBadChallenge = true
	_, err := OpenShell(testCtx(t), f.awsConfig(), testTarget, ShellOptions{DialOptions: DialOptions{KMS: &fakeKMS{}}})
	var ce *ChallengeError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "challenge") {
		t.Fatalf("got %v", err)
	}
	waitFor(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.terminated) == 1 })
}

func TestShellKMSAccessDenied(t *testing.T) {
	f := newFakeService(t)
	f.sessionType = wire.SessionTypeStandardStream
	f.props = nil
	f.kms = true
	fk := &fakeKMS{err: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}}
	_, err := OpenShell(testCtx(t), f.awsConfig(), testTarget, ShellOptions{DialOptions: DialOptions{KMS: fk}})
	var ke *KMSError
	if !errors.As(err, &ke) || !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "needs kms:GenerateDataKey on alias/x") {
		t.Fatalf("got %v", err)
	}
	resp := <-f.session(t).hsResp
	if len(resp.ProcessedClientActions) != 2 || resp.ProcessedClientActions[1].ActionStatus != wire.ActionFailed || len(resp.Errors) != 1 {
		t.Fatalf("KMS action answer %+v", resp)
	}
	waitFor(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.terminated) == 1 })
}

// TestShellKMSAgentRejectsAnswer: an agent that ends the session after our
// challenge answer is reported as a *ChallengeError with its text.
func TestShellKMSAgentRejectsAnswer(t *testing.T) {
	f := newFakeService(t)
	f.sessionType = wire.SessionTypeStandardStream
	f.props = nil
	f.kms = true
	f.kmsRejectAnswer = true
	_, err := OpenShell(testCtx(t), f.awsConfig(), testTarget, ShellOptions{DialOptions: DialOptions{KMS: &fakeKMS{}}})
	var ce *ChallengeError
	var cc *ChannelClosedError
	if !errors.As(err, &ce) || !errors.As(err, &cc) || !strings.Contains(cc.Output, "Encryption challenge failed") {
		t.Fatalf("got %v", err)
	}
}
