package sandbox

// Owned by the SSH hosts work: EC2 Instance Connect SendSSHPublicKey.

import (
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"
)

func (a *apiServer) registerEICAPI() {
	a.json["AWSEC2InstanceConnectService.SendSSHPublicKey"] = a.sendSSHPublicKey
}

// EC2 Instance Connect input constraints (API reference, SendSSHPublicKey).
var (
	eicInstanceIDPattern = regexp.MustCompile(`^i-[a-f0-9]+$`)
	eicOSUserPattern     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9@._-]{0,30}[A-Za-z0-9$_-]?$`)
	eicAZPattern         = regexp.MustCompile(`^(\w+-){2,3}\d+\w+$`)
)

// minRSABits is the smallest RSA key EC2 Instance Connect accepts.
const minRSABits = 2048

type sendSSHPublicKeyInput struct {
	InstanceId       *string
	InstanceOSUser   *string
	SSHPublicKey     *string
	AvailabilityZone *string
}

// sendSSHPublicKey records a key that opens the instance's SSH host for
// InstanceOSUser during EICKeyLifetime. Like the real service it does not
// check that the user exists: a wrong user fails later, at SSH auth.
func (a *apiServer) sendSSHPublicKey(r *APIRequest) (any, error) {
	var in sendSSHPublicKeyInput
	if err := decodeJSON(r, &in); err != nil {
		return nil, err
	}
	if err := validateSendSSHPublicKey(&in); err != nil {
		return nil, err
	}
	key, err := parseEICPublicKey(*in.SSHPublicKey)
	if err != nil {
		return nil, apiErr("InvalidArgsException", "%s", err.Error())
	}
	inst, ok := r.Account.Instance(r.Region, *in.InstanceId)
	if !ok {
		return nil, apiErr("EC2InstanceNotFoundException", "Instance not found")
	}
	if in.AvailabilityZone != nil && inst.AZ != "" && *in.AvailabilityZone != inst.AZ {
		return nil, apiErr("EC2InstanceNotFoundException", "Instance not found in availability zone %s", *in.AvailabilityZone)
	}
	if inst.State != "" && inst.State != "running" {
		return nil, apiErr("EC2InstanceStateInvalidException",
			"Unable to connect because the instance is in the %s state. Connecting to a stopped or terminated instance is not supported. If the instance is stopped, start your instance, and try to connect again.", inst.State)
	}
	if inst.EICUnsupported || strings.EqualFold(inst.PlatformType, "Windows") {
		return nil, apiErr("EC2InstanceUnavailableException",
			"EC2 Instance Connect is not supported on instance %s: it does not run the EC2 Instance Connect package (Linux only); use an authorized key instead", inst.ID)
	}
	a.sb.host.pushKey(inst.ID, *in.InstanceOSUser, key, a.sb.now())
	a.log.Debug("ssh public key pushed", "instance", inst.ID, "user", *in.InstanceOSUser, "fingerprint", ssh.FingerprintSHA256(key))
	return map[string]any{"RequestId": r.RequestID, "Success": true}, nil
}

// validateSendSSHPublicKey applies the model's constraints and answers the
// service's "N validation errors detected" InvalidArgsException.
func validateSendSSHPublicKey(in *sendSSHPublicKeyInput) error {
	var problems []string
	check := func(member string, v *string, minLen, maxLen int, re *regexp.Regexp, sensitive bool) {
		if v == nil {
			problems = append(problems, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member))
			return
		}
		value := fmt.Sprintf("Value '%s' at '%s'", *v, member)
		if sensitive {
			value = fmt.Sprintf("Value at '%s'", member)
		}
		switch {
		case len(*v) < minLen:
			problems = append(problems, fmt.Sprintf("%s failed to satisfy constraint: Member must have length greater than or equal to %d", value, minLen))
		case len(*v) > maxLen:
			problems = append(problems, fmt.Sprintf("%s failed to satisfy constraint: Member must have length less than or equal to %d", value, maxLen))
		case re != nil && !re.MatchString(*v):
			problems = append(problems, fmt.Sprintf("%s failed to satisfy constraint: Member must satisfy regular expression pattern: %s", value, re.String()))
		}
	}
	check("instanceId", in.InstanceId, 10, 32, eicInstanceIDPattern, false)
	check("instanceOSUser", in.InstanceOSUser, 1, 32, eicOSUserPattern, false)
	check("sshPublicKey", in.SSHPublicKey, 80, 4096, nil, true)
	if in.AvailabilityZone != nil {
		check("availabilityZone", in.AvailabilityZone, 6, 32, eicAZPattern, false)
	}
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return apiErr("InvalidArgsException", "1 validation error detected: %s", problems[0])
	default:
		return apiErr("InvalidArgsException", "%d validation errors detected: %s", len(problems), strings.Join(problems, "; "))
	}
}

// parseEICPublicKey parses an OpenSSH public key line ("type base64
// [comment]") of a type EC2 Instance Connect accepts: ssh-ed25519,
// ecdsa-sha2-nistp256/384/521, or ssh-rsa of at least 2048 bits.
func parseEICPublicKey(line string) (ssh.PublicKey, error) {
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return nil, fmt.Errorf("SSH public key is not in OpenSSH format (type, base64 key, optional comment)")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return nil, fmt.Errorf("SSH public key is not in OpenSSH format: the key is not base64")
	}
	key, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return nil, fmt.Errorf("SSH public key could not be parsed: %v", err)
	}
	if key.Type() != fields[0] {
		return nil, fmt.Errorf("SSH public key type %q does not match the key material (%s)", fields[0], key.Type())
	}
	switch key.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return key, nil
	case ssh.KeyAlgoRSA:
		ck, ok := key.(ssh.CryptoPublicKey)
		if !ok {
			return nil, fmt.Errorf("SSH public key could not be parsed as RSA")
		}
		rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey)
		if !ok || rk.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA keys must be at least %d bits", minRSABits)
		}
		return key, nil
	default:
		return nil, fmt.Errorf("unsupported SSH key type %s: use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (at least %d bits)", key.Type(), minRSABits)
	}
}
