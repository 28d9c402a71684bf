package sandbox

// KMS GenerateDataKey / Decrypt (awsJson1_1, TrentService; aws-apis.md §7),
// enough for KMS-encrypted Session Manager shells (ssm-protocol.md §8).
//
// The keys of an account are the one its Session Manager preferences name
// (Account.SessionKMSKeyID); like the sandbox's single endpoint it serves
// every region of the account (one key stands for the preferences of all
// regions). A
// CiphertextBlob is sealed under a per-sandbox master key with AES-256-GCM;
// the key ARN and the canonical encryption context are its additional data,
// so Decrypt with another context fails with InvalidCiphertextException,
// as with the real service.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"strings"
)

// kmsModel holds the sandbox's master key.
type kmsModel struct {
	aead  cipher.AEAD
	fleet *Fleet // for cross-account key lookups
}

func newKMSModel(fleet *Fleet) *kmsModel {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return &kmsModel{aead: g, fleet: fleet}
}

// blobVersion tags CiphertextBlobs of this model.
const blobVersion = 1

func (a *apiServer) registerKMSAPI() {
	a.kms = newKMSModel(a.sb.fleet)
	a.json["TrentService.GenerateDataKey"] = a.kmsGenerateDataKey
	a.json["TrentService.Decrypt"] = a.kmsDecrypt
}

type generateDataKeyInput struct {
	KeyId             string
	NumberOfBytes     *int
	KeySpec           string
	EncryptionContext map[string]string
}

type generateDataKeyOutput struct {
	CiphertextBlob []byte
	Plaintext      []byte
	KeyId          string
}

type decryptInput struct {
	CiphertextBlob    []byte
	EncryptionContext map[string]string
	KeyId             string
}

type decryptOutput struct {
	Plaintext           []byte
	KeyId               string
	EncryptionAlgorithm string
}

// resolveKMSKey maps a KeyId (ARN or bare key ID) to the ARN of one of
// the account's keys.
func resolveKMSKey(fleet *Fleet, acct *Account, op, keyID string) (string, error) {
	arn := acct.SessionKMSKeyID
	if keyID == "" {
		return "", apiErr("ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	if arn != "" && (keyID == arn || "key/"+keyID == arn[strings.LastIndexByte(arn, ':')+1:]) {
		return arn, nil
	}
	if strings.HasPrefix(keyID, "arn:") {
		// Another account's key: without a grant the real service answers
		// AccessDenied (the key policy does not name the caller).
		if parts := strings.SplitN(keyID, ":", 6); len(parts) == 6 && parts[4] != acct.ID && fleet != nil {
			for _, o := range fleet.Accounts {
				if o.ID == parts[4] && o.SessionKMSKeyID == keyID {
					return "", apiErr("AccessDeniedException", "User: %s is not authorized to perform: kms:%s on resource: %s because no resource-based policy allows the kms:%s action", acct.arn(), op, keyID, op)
				}
			}
		}
		return "", apiErr("NotFoundException", "Key '%s' does not exist", keyID)
	}
	return "", apiErr("NotFoundException", "Key '%s' does not exist", keyID)
}

// validKMSKeyARN reports whether arn is a KMS key ARN of account.
func validKMSKeyARN(arn, account string) bool {
	parts := strings.SplitN(arn, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && parts[2] == "kms" && parts[3] != "" &&
		parts[4] == account && strings.HasPrefix(parts[5], "key/") && len(parts[5]) > len("key/")
}

// kmsAAD is the additional data a blob is sealed with: the key ARN and the
// encryption context (encoding/json sorts map keys, so it is canonical).
func kmsAAD(arn string, ec map[string]string) []byte {
	if ec == nil {
		ec = map[string]string{}
	}
	b, _ := json.Marshal(ec)
	return append([]byte(arn+"\x00"), b...)
}

// seal returns blobVersion || len(arn) (2 bytes BE) || arn || nonce || AES-GCM.
func (k *kmsModel) seal(arn string, plain []byte, ec map[string]string) []byte {
	out := []byte{blobVersion}
	out = binary.BigEndian.AppendUint16(out, uint16(len(arn)))
	out = append(out, arn...)
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plain, kmsAAD(arn, ec))
}

// open reverses seal; the error is the API error the real service answers.
func (k *kmsModel) open(blob []byte, ec map[string]string) (arn string, plain []byte, err error) {
	bad := apiErr("InvalidCiphertextException", "")
	if len(blob) < 3 || blob[0] != blobVersion {
		return "", nil, bad
	}
	n := int(binary.BigEndian.Uint16(blob[1:3]))
	rest := blob[3:]
	if len(rest) < n+k.aead.NonceSize()+k.aead.Overhead() {
		return "", nil, bad
	}
	arn, rest = string(rest[:n]), rest[n:]
	nonce, ct := rest[:k.aead.NonceSize()], rest[k.aead.NonceSize():]
	plain, err = k.aead.Open(nil, nonce, ct, kmsAAD(arn, ec))
	if err != nil {
		return "", nil, bad
	}
	return arn, plain, nil
}

// generateDataKey is GenerateDataKey for acct.
func (k *kmsModel) generateDataKey(acct *Account, in *generateDataKeyInput) (*generateDataKeyOutput, error) {
	const op = "GenerateDataKey"
	arn, err := resolveKMSKey(k.fleet, acct, op, in.KeyId)
	if err != nil {
		return nil, err
	}
	var n int
	switch {
	case in.NumberOfBytes != nil && in.KeySpec != "":
		return nil, apiErr("ValidationException", "Please specify either number of bytes or key spec.")
	case in.NumberOfBytes != nil:
		n = *in.NumberOfBytes
		if n < 1 || n > 1024 {
			return nil, apiErr("ValidationException", "1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024", n)
		}
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	default:
		return nil, apiErr("ValidationException", "Please specify either number of bytes or key spec.")
	}
	plain := make([]byte, n)
	_, _ = rand.Read(plain)
	return &generateDataKeyOutput{CiphertextBlob: k.seal(arn, plain, in.EncryptionContext), Plaintext: plain, KeyId: arn}, nil
}

// decrypt is Decrypt for acct: the blob's key must be one of the account's
// keys (and equal KeyId if given), and the context
// must be the one the blob was sealed with.
func (k *kmsModel) decrypt(acct *Account, in *decryptInput) (*decryptOutput, error) {
	const op = "Decrypt"
	arn, plain, err := k.open(in.CiphertextBlob, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	if _, err := resolveKMSKey(k.fleet, acct, "Decrypt", arn); err != nil {
		return nil, apiErr("InvalidCiphertextException", "")
	}
	if in.KeyId != "" {
		want, err := resolveKMSKey(k.fleet, acct, op, in.KeyId)
		if err != nil {
			return nil, err
		}
		if want != arn {
			return nil, apiErr("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")
		}
	}
	return &decryptOutput{Plaintext: plain, KeyId: arn, EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, nil
}

func (a *apiServer) kmsGenerateDataKey(r *APIRequest) (any, error) {
	var in generateDataKeyInput
	if err := decodeJSON(r, &in); err != nil {
		return nil, err
	}
	return a.kms.generateDataKey(r.Account, &in)
}

func (a *apiServer) kmsDecrypt(r *APIRequest) (any, error) {
	var in decryptInput
	if err := decodeJSON(r, &in); err != nil {
		return nil, err
	}
	if len(in.CiphertextBlob) == 0 {
		return nil, apiErr("ValidationException", "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	return a.kms.decrypt(r.Account, &in)
}

// sessionKMSKey is the key ARN the session's account encrypts shells with
// ("" when its preferences do not enable KMS, and always for Port).
func (s *gwSession) sessionKMSKey() string {
	if s.sessionType == typePort || s.account == nil {
		return ""
	}
	return s.account.SessionKMSKeyID
}
