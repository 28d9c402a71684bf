package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/session/wire"
)

// The built-in agent's side of KMS-encrypted shells (ssm-protocol.md §8):
// it asks for KMSEncryption, decrypts the client's data key through the
// sandbox KMS model with its own instance ID as TargetId (in-process, as
// the instance role's kms:Decrypt), proves both sides hold the key with the
// encryption challenge, then encrypts Output/StdErr/ExitCode with counter
// nonces and decrypts the client's Output (the stream's PayloadCipher).

// kmsCustomerMessage is the HandshakeComplete text of an encrypted session.
const kmsCustomerMessage = "This session is encrypted using AWS KMS."

// challengeSize is the number of random bytes of the encryption challenge.
const challengeSize = 64

// kmsAction is the KMSEncryption action for key, with a random Challenge
// unless GatewayOptions.KMSNoChallenge (§8.4).
func (a *agent) kmsAction(key string) (wire.RequestedClientAction, string) {
	var challenge string
	if !a.g.opts.KMSNoChallenge {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		challenge = base64.StdEncoding.EncodeToString(b)
	}
	p, _ := json.Marshal(wire.KMSEncryptionRequest{KMSKeyID: key, Challenge: challenge})
	return wire.RequestedClientAction{ActionType: wire.ActionKMSEncryption, ActionParameters: p}, challenge
}

// startEncryption decrypts the data key from resp's KMSEncryption result,
// turns the stream's cipher on and runs the encryption challenge.
func (a *agent) startEncryption(ctx context.Context, resp *wire.HandshakeResponse, key, challenge string) error {
	var res wire.KMSEncryptionResult
	found := false
	for _, act := range resp.ProcessedClientActions {
		if act.ActionType == wire.ActionKMSEncryption {
			if err := json.Unmarshal(act.ActionResult, &res); err != nil {
				return failf("Encountered error while initiating handshake. KMSEncryption result is not valid JSON: %v", err)
			}
			found = true
		}
	}
	if !found || len(res.KMSCipherTextKey) == 0 {
		return failf("Encountered error while initiating handshake. The client did not return a KMS data key.")
	}
	ec := map[string]string{session.ContextSessionID: a.s.id, session.ContextTargetID: a.s.target}
	if challenge != "" && res.ChallengeAcknowledgement {
		ec[session.ContextRandomChallenge] = challenge
	}
	kms := a.g.sb.api.kms
	out, err := kms.decrypt(a.s.account, &decryptInput{CiphertextBlob: res.KMSCipherTextKey, EncryptionContext: ec, KeyId: key})
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			return failf("Error decrypting the session data key with KMS key %s: %s. Check that the instance role of %s has kms:Decrypt on the key.", key, ae.Code, a.s.target)
		}
		return failf("Error decrypting the session data key with KMS key %s: %v", key, err)
	}
	pc, err := session.NewPayloadCipher(session.RoleAgent, out.Plaintext)
	if err != nil {
		return failf("Error setting up session encryption: %v", err)
	}
	a.st.SetCipher(pc)
	return a.encChallenge(ctx, pc)
}

// encChallenge sends 64 random bytes sealed with the agent→client key and
// requires them back sealed with the client→agent key (§8.4).
func (a *agent) encChallenge(ctx context.Context, pc *session.PayloadCipher) error {
	plain := make([]byte, challengeSize)
	_, _ = rand.Read(plain)
	req, _ := json.Marshal(wire.EncChallenge{Challenge: pc.Seal(plain)})
	if err := a.st.Send(ctx, wire.PayloadEncChallengeRequest, req); err != nil {
		return fmt.Errorf("send encryption challenge: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, a.g.opts.HandshakeTimeout)
	defer cancel()
	for {
		pt, p, err := a.st.Recv(cctx)
		if err != nil {
			if ctx.Err() == nil && cctx.Err() != nil {
				return failf("Timed out waiting for encryption challenge.")
			}
			return fmt.Errorf("wait for encryption challenge: %w", err)
		}
		if pt != wire.PayloadEncChallengeResponse {
			a.log.Debug("dropping input before handshake completes", "payload_type", pt)
			continue
		}
		var resp wire.EncChallenge
		if err := json.Unmarshal(p, &resp); err != nil {
			return failf("Encryption challenge failed: the response is not valid JSON: %v", err)
		}
		got, err := pc.Open(resp.Challenge)
		if err != nil || !bytes.Equal(got, plain) {
			return failf("Encryption challenge failed: the client's response does not match. The session was ended.")
		}
		return nil
	}
}
