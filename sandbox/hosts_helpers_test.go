package sandbox

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"golang.org/x/crypto/ssh"
)

// Instances of hostsTestFleet.
const (
	hostAL      = "i-0aaa000000000001" // Amazon Linux → ec2-user
	hostUbuntu  = "i-0bbb000000000002" // Ubuntu → ubuntu
	hostStopped = "i-0ccc000000000003"
	hostWindows = "i-0ddd000000000004"
	hostNoEIC   = "i-0eee000000000005"
	hostNoSSH   = "i-0fff000000000006"
	hostHybrid  = "mi-0123456789abcdef0"
	hostUSEast  = "i-0abc000000000007" // us-east-1 only
	hostDebian  = "i-0ddd000000000008" // Debian → admin
	hostsAKID   = "AKIDHOSTSTEST"
	hostsRegion = "eu-west-1"
)

func hostsTestFleet() *Fleet {
	return &Fleet{Accounts: []Account{{
		ID: "111122223333", Profile: "hosts", AccessKeyID: hostsAKID, SecretAccessKey: "secret",
		Regions: []string{"eu-west-1", "us-east-1"},
		Instances: []Instance{
			{ID: hostAL, Region: hostsRegion, Name: "web-1", PlatformName: "Amazon Linux", AZ: "eu-west-1a"},
			{ID: hostUbuntu, Region: hostsRegion, Name: "build-ubuntu", PlatformName: "Ubuntu"},
			{ID: hostStopped, Region: hostsRegion, State: "stopped", PlatformName: "Amazon Linux"},
			{ID: hostWindows, Region: hostsRegion, PlatformType: "Windows", PlatformName: "Microsoft Windows Server 2022 Datacenter"},
			{ID: hostNoEIC, Region: hostsRegion, PlatformName: "Red Hat Enterprise Linux", EICUnsupported: true},
			{ID: hostNoSSH, Region: hostsRegion, PlatformName: "Amazon Linux", NoSSH: true},
			{ID: hostHybrid, Region: hostsRegion, PlatformName: "Ubuntu"},
			{ID: hostUSEast, Region: "us-east-1", PlatformName: "Amazon Linux"},
			{ID: hostDebian, Region: hostsRegion, PlatformName: "Debian GNU/Linux"},
		},
	}}}
}

// fakeClock is the injected sandbox clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// startHostsSandbox starts a sandbox over hostsTestFleet, closed (and
// checked) at the end of the test.
func startHostsSandbox(t *testing.T, opts Options) *Sandbox {
	t.Helper()
	if opts.Fleet == nil {
		opts.Fleet = hostsTestFleet()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() {
		if err := sb.Close(); err != nil {
			t.Errorf("close sandbox: %v", err)
		}
	})
	return sb
}

// eicClient is the real SDK client pointed at the sandbox, hermetically.
func eicClient(t *testing.T, sb *Sandbox, region string) *ec2instanceconnect.Client {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(hostsAKID, "secret", "")),
		config.WithBaseEndpoint(sb.URL()),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithRetryMaxAttempts(1),
	)
	if err != nil {
		t.Fatalf("load aws config: %v", err)
	}
	return ec2instanceconnect.NewFromConfig(cfg)
}

// newEd25519 returns a fresh key as a signer and its authorized_keys line.
func newEd25519(t testing.TB) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, string(ssh.MarshalAuthorizedKey(signer.PublicKey()))
}

// pushKey calls SendSSHPublicKey through the SDK and fails the test on error.
func pushKey(t *testing.T, c *ec2instanceconnect.Client, instanceID, user, key string) *ec2instanceconnect.SendSSHPublicKeyOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{
		InstanceId: aws.String(instanceID), InstanceOSUser: aws.String(user), SSHPublicKey: aws.String(key),
	})
	if err != nil {
		t.Fatalf("SendSSHPublicKey(%s, %s): %v", instanceID, user, err)
	}
	return out
}

// dialHost opens an SSH client to an instance's host, pinning its host key.
// loginEIC pushes a new key for user with EC2 Instance Connect and logs in
// to instanceID's SSH host with it.
func loginEIC(t *testing.T, sb *Sandbox, instanceID, user string) *ssh.Client {
	t.Helper()
	signer, line := newEd25519(t)
	pushKey(t, eicClient(t, sb, hostsRegion), instanceID, user, line)
	c, err := dialHost(t, sb, instanceID, user, signer)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func dialHost(t *testing.T, sb *Sandbox, instanceID, user string, signer ssh.Signer) (*ssh.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, err := sb.host.Addr(ctx, instanceID)
	if err != nil {
		t.Fatalf("host addr of %s: %v", instanceID, err)
	}
	hk, err := sb.HostPublicKey(instanceID)
	if err != nil {
		t.Fatalf("host key of %s: %v", instanceID, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c, chans, reqs, err := ssh.NewClientConn(conn, net.JoinHostPort(instanceID, "22"), &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(hk),
	})
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	client := ssh.NewClient(c, chans, reqs)
	t.Cleanup(func() { _ = client.Close() })
	return client, nil
}
