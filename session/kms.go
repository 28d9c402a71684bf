package session

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/ssmtui/ssmtui/session/wire"
)

// KMS encryption of shell sessions (ssm-protocol.md §8).

// DataKeySize is the size of the KMS data key of an encrypted session: the
// first half is the agent→client key, the second the client→agent key.
const DataKeySize = 64

// Encryption-context keys bound into the KMS data key (§8.1).
const (
	ContextSessionID       = "aws:ssm:SessionId"
	ContextTargetID        = "aws:ssm:TargetId"
	ContextRandomChallenge = "aws:ssm:RandomChallenge"
)

const (
	gcmNonceSize = 12
	gcmTagSize   = 16
)

// KMSAPI is the part of the KMS client an encrypted shell session uses;
// *kms.Client satisfies it. Tests may set ShellOptions.KMS.
type KMSAPI interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
}

// ErrDecrypt is matched with errors.Is by a *DecryptError.
var ErrDecrypt = errors.New("encrypted payload failed authentication")

// DecryptError ends an encrypted session whose peer sent a payload that does
// not decrypt under the session key (a corrupt frame, a tampering relay or
// a peer that lost the key). The session is closed; nothing of the payload
// is delivered.
type DecryptError struct {
	PayloadType wire.PayloadType
	Len         int
}

// Error describes the failure and what to do about it.
func (e *DecryptError) Error() string {
	return fmt.Sprintf("decrypt %s payload of %d bytes: authentication failed (corrupt frame or wrong session key); the session was closed, reconnect to continue", e.PayloadType, e.Len)
}

// Is matches ErrDecrypt.
func (e *DecryptError) Is(target error) bool { return target == ErrDecrypt }

// KMSError is a failed GenerateDataKey call of an encrypted shell session.
// Code is the AWS error code (AccessDeniedException, NotFoundException, …).
type KMSError struct {
	KeyID string
	Code  string
	Err   error
}

// Error describes the failure and what to do about it.
func (e *KMSError) Error() string {
	switch e.Code {
	case "AccessDeniedException":
		return fmt.Sprintf("the session is KMS-encrypted and needs kms:GenerateDataKey on %s for the caller (grant it in the key policy or IAM): %v", e.KeyID, e.Err)
	case "NotFoundException":
		return fmt.Sprintf("the session is KMS-encrypted with key %s, which KMS does not know in this account/region (check the Session Manager preferences' kmsKeyId): %v", e.KeyID, e.Err)
	case "DisabledException", "KMSInvalidStateException":
		return fmt.Sprintf("the session is KMS-encrypted with key %s, which is disabled or not usable (enable the key or change the Session Manager preferences): %v", e.KeyID, e.Err)
	}
	return fmt.Sprintf("generate KMS data key with %s for the encrypted session: %v", e.KeyID, e.Err)
}

// Unwrap returns the SDK error.
func (e *KMSError) Unwrap() error { return e.Err }

// Is matches ErrAccessDenied for AccessDeniedException.
func (e *KMSError) Is(target error) bool {
	return target == ErrAccessDenied && e.Code == "AccessDeniedException"
}

// ChallengeError is an encryption challenge (§8.4) that failed: the agent's
// challenge did not decrypt with the session key, or the agent rejected our
// answer.
type ChallengeError struct {
	Err error
}

// Error describes the failure and what to do about it.
func (e *ChallengeError) Error() string {
	return fmt.Sprintf("KMS encryption challenge failed (the agent and ssmtui disagree on the session key; check that the instance role has kms:Decrypt on the key): %v", e.Err)
}

// Unwrap returns the cause.
func (e *ChallengeError) Unwrap() error { return e.Err }

// generateDataKey asks KMS for the session's 64-byte data key (§8.1).
func generateDataKey(ctx context.Context, api KMSAPI, keyID, sessionID, target, challenge string) (plain, blob []byte, err error) {
	ec := map[string]string{ContextSessionID: sessionID, ContextTargetID: target}
	if challenge != "" {
		ec[ContextRandomChallenge] = challenge
	}
	out, err := api.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(keyID),
		NumberOfBytes:     aws.Int32(DataKeySize),
		EncryptionContext: ec,
	})
	if err != nil {
		ke := &KMSError{KeyID: keyID, Err: err}
		var ae smithy.APIError
		if errors.As(err, &ae) {
			ke.Code = ae.ErrorCode()
		}
		return nil, nil, ke
	}
	if len(out.Plaintext) != DataKeySize || len(out.CiphertextBlob) == 0 {
		return nil, nil, &KMSError{KeyID: keyID, Err: fmt.Errorf("GenerateDataKey returned a %d-byte key (want %d) or no ciphertext", len(out.Plaintext), DataKeySize)}
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

// PayloadCipher encrypts and decrypts the payloads of a KMS-encrypted
// session (§8.2, §8.3): AES-256-GCM, nonce(12)||ciphertext||tag(16), no
// AAD. The client seals with Plaintext[32:64] and random nonces; the agent
// seals with Plaintext[0:32] and a 96-bit little-endian counter nonce. Only
// the payload types of §8.3 are touched: client→agent Output; agent→client
// Output, StdErr and ExitCode. Safe for concurrent use.
type PayloadCipher struct {
	role       Role
	seal, open cipher.AEAD

	mu    sync.Mutex
	nonce [3]uint32 // agent counter
}

// NewPayloadCipher splits the 64-byte data key for role.
func NewPayloadCipher(role Role, dataKey []byte) (*PayloadCipher, error) {
	if len(dataKey) != DataKeySize {
		return nil, fmt.Errorf("build session cipher: data key is %d bytes, want %d", len(dataKey), DataKeySize)
	}
	a2c, err := newGCM(dataKey[:32])
	if err != nil {
		return nil, err
	}
	c2a, err := newGCM(dataKey[32:])
	if err != nil {
		return nil, err
	}
	c := &PayloadCipher{role: role}
	if role == RoleAgent {
		c.seal, c.open = a2c, c2a
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("seed agent nonce counter: %w", err)
		}
		for i := range c.nonce {
			c.nonce[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	} else {
		c.seal, c.open = c2a, a2c
	}
	return c, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("build session cipher: %w", err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("build session cipher: %w", err)
	}
	return g, nil
}

// encrypted reports whether payload type pt is encrypted when sent by role.
func encrypted(sender Role, pt wire.PayloadType) bool {
	if sender == RoleAgent {
		return pt == wire.PayloadOutput || pt == wire.PayloadStdErr || pt == wire.PayloadExitCode
	}
	return pt == wire.PayloadOutput
}

// peer is the other role.
func (r Role) peer() Role {
	if r == RoleAgent {
		return RoleClient
	}
	return RoleAgent
}

// Seal encrypts p with this side's sending key; the result is
// nonce||ciphertext||tag in a new slice.
func (c *PayloadCipher) Seal(p []byte) []byte {
	out := make([]byte, gcmNonceSize, gcmNonceSize+len(p)+gcmTagSize)
	if c.role == RoleAgent {
		c.mu.Lock()
		for i := range c.nonce {
			binary.LittleEndian.PutUint32(out[4*i:], c.nonce[i])
		}
		// Increment with carry from the low word upward.
		for i := range c.nonce {
			c.nonce[i]++
			if c.nonce[i] != 0 {
				break
			}
		}
		c.mu.Unlock()
	} else if _, err := rand.Read(out[:gcmNonceSize]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens (crypto/rand.Read does not fail)
	}
	return c.seal.Seal(out, out[:gcmNonceSize], p, nil)
}

// Open decrypts nonce||ciphertext||tag sealed by the peer's sending key.
func (c *PayloadCipher) Open(b []byte) ([]byte, error) {
	if len(b) < gcmNonceSize+gcmTagSize {
		return nil, ErrDecrypt
	}
	p, err := c.open.Open(nil, b[:gcmNonceSize], b[gcmNonceSize:], nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	return p, nil
}

// sealPayload encrypts p if this side encrypts payload type pt.
func (c *PayloadCipher) sealPayload(pt wire.PayloadType, p []byte) []byte {
	if c == nil || !encrypted(c.role, pt) {
		return p
	}
	return c.Seal(p)
}

// openPayload decrypts p if the peer encrypts payload type pt.
func (c *PayloadCipher) openPayload(pt wire.PayloadType, p []byte) ([]byte, error) {
	if c == nil || !encrypted(c.role.peer(), pt) {
		return p, nil
	}
	out, err := c.Open(p)
	if err != nil {
		return nil, &DecryptError{PayloadType: pt, Len: len(p)}
	}
	return out, nil
}

// lazyKMS builds the KMS client from the session's aws.Config on first use:
// most sessions never need it.
type lazyKMS struct {
	cfg  aws.Config
	once sync.Once
	c    *kms.Client
}

// GenerateDataKey implements KMSAPI.
func (l *lazyKMS) GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	l.once.Do(func() { l.c = kms.NewFromConfig(l.cfg) })
	return l.c.GenerateDataKey(ctx, in, optFns...)
}
