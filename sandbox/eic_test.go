package sandbox

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect/types"
	"golang.org/x/crypto/ssh"
)

func authorizedKeyLine(t *testing.T, pub any) string {
	t.Helper()
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " tester@laptop"
}

func TestSendSSHPublicKeySuccess(t *testing.T) {
	sb := startHostsSandbox(t, Options{})
	c := eicClient(t, sb, hostsRegion)
	_, edLine := newEd25519(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ id, user, key string }{
		"ed25519":                 {hostAL, "ec2-user", edLine},
		"ecdsa p256":              {hostAL, "ec2-user", authorizedKeyLine(t, &ec.PublicKey)},
		"rsa 2048":                {hostUbuntu, "ubuntu", authorizedKeyLine(t, &rsa2048.PublicKey)},
		"user need not exist":     {hostAL, "nobody-here", edLine},
		"noSsh instance still ok": {hostNoSSH, "ec2-user", edLine},
	} {
		t.Run(name, func(t *testing.T) {
			out := pushKey(t, c, tc.id, tc.user, tc.key)
			if !out.Success {
				t.Errorf("Success = false, want true")
			}
			if aws.ToString(out.RequestId) == "" {
				t.Errorf("RequestId is empty")
			}
		})
	}
}

func TestSendSSHPublicKeyErrors(t *testing.T) {
	sb := startHostsSandbox(t, Options{})
	c := eicClient(t, sb, hostsRegion)
	_, edLine := newEd25519(t)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	var (
		notFound     *types.EC2InstanceNotFoundException
		invalidArgs  *types.InvalidArgsException
		stateInvalid *types.EC2InstanceStateInvalidException
		unavailable  *types.EC2InstanceUnavailableException
	)
	garbage := "ssh-ed25519 " + strings.Repeat("A", 80) + " broken"
	for name, tc := range map[string]struct {
		in      ec2instanceconnect.SendSSHPublicKeyInput
		target  any
		message string // substring of the error message
	}{
		"unknown instance": {
			in:     ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String("i-0123456789abcdef0"), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(edLine)},
			target: &notFound, message: "Instance not found",
		},
		"instance of another region": {
			in:     ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(hostUSEast), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(edLine)},
			target: &notFound, message: "Instance not found",
		},
		"wrong availability zone": {
			in:     ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(hostAL), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(edLine), AvailabilityZone: aws.String("eu-west-1b")},
			target: &notFound, message: "eu-west-1b",
		},
		"hybrid mi- node": {
			in:     ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(hostHybrid), InstanceOSUser: aws.String("ubuntu"), SSHPublicKey: aws.String(edLine)},
			target: &invalidArgs, message: "Value 'mi-0123456789abcdef0' at 'instanceId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^i-[a-f0-9]+$",
		},
		"os user too long": {
			in:     ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(hostAL), InstanceOSUser: aws.String(strings.Repeat("u", 33)), SSHPublicKey: aws.String(edLine)},
			target: &invalidArgs, message: "at 'instanceOSUser' failed to satisfy constraint: Member must have length less than or equal to 32",
		},
		"os user empty": {
			in:     ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(hostAL), InstanceOSUser: aws.String(""), SSHPublicKey: aws.String(edLine)},
			target: &invalidArgs, message: "Member must have length greater than or equal to 1",
		},
		"two problems counted": {
			in:     ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String("i-XYZ"), InstanceOSUser: aws.String("bad user"), SSHPublicKey: aws.String(edLine)},
			target: &invalidArgs, message: "2 validation errors detected",
		},
		"key too short": {
			in:     ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(hostAL), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String("ssh-ed25519 AAAA")},
			target: &invalidArgs, message: "Value at 'sshPublicKey' failed to satisfy constraint: Member must have length greater than or equal to 80",
		},
		"key not parsable": {
			in:     ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(hostAL), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(garbage)},
			target: &invalidArgs, message: "could not be parsed",
		},
		"rsa 1024 too small": {
			in:     ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(hostAL), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(authorizedKeyLine(t, &rsa1024.PublicKey))},
			target: &invalidArgs, message: "at least 2048 bits",
		},
		"stopped instance": {
			in:     ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(hostStopped), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(edLine)},
			target: &stateInvalid, message: "stopped",
		},
		"eic unsupported": {
			in:     ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(hostNoEIC), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(edLine)},
			target: &unavailable, message: "not supported",
		},
		"windows": {
			in:     ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(hostWindows), InstanceOSUser: aws.String("Administrator"), SSHPublicKey: aws.String(edLine)},
			target: &unavailable, message: "not supported",
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.SendSSHPublicKey(ctx, &tc.in)
			if err == nil {
				t.Fatalf("SendSSHPublicKey succeeded, want %T", tc.target)
			}
			if !errors.As(err, tc.target) {
				t.Fatalf("error %v is not %T", err, tc.target)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not contain %q", err.Error(), tc.message)
			}
		})
	}
}

// A failed push must not open the host: the key of a refused request is
// not recorded.
func TestSendSSHPublicKeyRefusedPushNotRecorded(t *testing.T) {
	sb := startHostsSandbox(t, Options{})
	c := eicClient(t, sb, "us-east-1")
	signer, line := newEd25519(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// hostAL lives in eu-west-1: from us-east-1 it is not found.
	_, err := c.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{
		InstanceId: aws.String(hostAL), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(line),
	})
	var notFound *types.EC2InstanceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("push from the wrong region: %v, want EC2InstanceNotFoundException", err)
	}
	if sb.host.eicKeyValid(hostAL, "ec2-user", signer.PublicKey().Marshal()) {
		t.Fatal("a refused push opened the host")
	}
}

func TestDefaultLoginUser(t *testing.T) {
	for _, tc := range []struct {
		inst Instance
		want string
	}{
		{Instance{PlatformName: "Amazon Linux"}, "ec2-user"},
		{Instance{PlatformName: "Red Hat Enterprise Linux"}, "ec2-user"},
		{Instance{PlatformName: "SLES"}, "ec2-user"},
		{Instance{PlatformName: "Fedora"}, "ec2-user"},
		{Instance{PlatformName: ""}, "ec2-user"},
		{Instance{PlatformName: "Ubuntu"}, "ubuntu"},
		{Instance{PlatformName: "Debian GNU/Linux"}, "admin"},
		{Instance{PlatformName: "CentOS Linux"}, "centos"},
		{Instance{PlatformType: "Windows", PlatformName: "Microsoft Windows Server 2022 Datacenter"}, "Administrator"},
	} {
		if got := defaultLoginUser(tc.inst); got != tc.want {
			t.Errorf("defaultLoginUser(%q, %q) = %q, want %q", tc.inst.PlatformType, tc.inst.PlatformName, got, tc.want)
		}
	}
}
